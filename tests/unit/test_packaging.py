"""pyproject.toml lists every package of the project (a wheel carries only those listed)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("oms_server", "router", "venues", "clients", "protos")


def test_every_package_is_listed_in_pyproject_and_nothing_else() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = find_packages(str(ROOT), include=[f"{name}*" for name in TOP_LEVEL])
    listed = config["packages"]
    assert sorted(set(found) - set(listed)) == [], "add these to [tool.setuptools] packages"
    assert sorted(set(listed) - set(found)) == [], "these listed packages do not exist"
    assert config["package-dir"] == {"": "."}

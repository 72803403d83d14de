"""pyproject.toml lists every package of the project and its data files (a wheel carries
only those listed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("oms_server", "router", "venues", "clients", "protos")


def test_every_package_is_listed_in_pyproject_and_nothing_else() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    # Namespace packages too: a directory of data files (the page's static/) is listed,
    # or setuptools warns that it would be ignored.
    found = find_namespace_packages(
        str(ROOT), include=[f"{name}*" for name in TOP_LEVEL], exclude=["*__pycache__*"]
    )
    listed = config["packages"]
    assert sorted(set(found) - set(listed)) == [], "add these to [tool.setuptools] packages"
    assert sorted(set(listed) - set(found)) == [], "these listed packages do not exist"
    assert config["package-dir"] == {"": "."}


def test_a_built_wheel_carries_the_files_the_oms_reads_at_run_time(tmp_path: Path) -> None:
    source = tmp_path / "source"  # built from a copy: no build/ or egg-info in the tree
    for name in TOP_LEVEL:
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("oms-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [
        *(ROOT / "oms_server" / "web" / "static").iterdir(),
        ROOT / "venues" / "scenarios" / "default.toml",
        ROOT / "protos" / "oms" / "v1" / "order.proto",
        ROOT / "oms_server" / "store" / "migrations" / "script.py.mako",
    ]
    missing = [str(p.relative_to(ROOT)) for p in data if str(p.relative_to(ROOT)) not in names]
    assert missing == []

"""Settings from the environment: the quote max age, in milliseconds."""

from __future__ import annotations

import pytest

from oms_server.config import Settings
from router.freshness import DEFAULT_QUOTE_MAX_AGE_S


def test_the_quote_max_age_defaults_to_the_named_constant() -> None:
    assert Settings.from_env({}).quote_max_age_s == DEFAULT_QUOTE_MAX_AGE_S
    assert Settings.from_env({"OMS_QUOTE_MAX_AGE_MS": ""}).quote_max_age_s == 3.0


@pytest.mark.parametrize(("text", "seconds"), [("1000", 1.0), ("250", 0.25), ("1500.5", 1.5005)])
def test_the_quote_max_age_is_read_in_milliseconds(text: str, seconds: float) -> None:
    assert Settings.from_env({"OMS_QUOTE_MAX_AGE_MS": text}).quote_max_age_s == seconds


@pytest.mark.parametrize("text", ["0", "-5", "soon", "inf", "nan"])
def test_a_bad_quote_max_age_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ValueError, match="OMS_QUOTE_MAX_AGE_MS must be a positive number"):
        Settings.from_env({"OMS_QUOTE_MAX_AGE_MS": text})

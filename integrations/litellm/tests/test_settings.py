"""Settings.from_env: what the proxy's environment must hold, and what a wrong value says."""

from decimal import Decimal

import pytest
from teamledger_litellm.settings import Settings, SettingsError

BASE = {"TEAMLEDGER_URL": "https://teamledger.example.com/prod",
        "TEAMLEDGER_KEY": "tl-plugin-key"}


def settings(**env: str) -> Settings:
    return Settings.from_env({**BASE, **env})


def test_a_minimal_environment_gets_the_documented_defaults():
    # Given only the URL and the key
    # When the settings are read
    found = Settings.from_env(dict(BASE))
    # Then every other setting has its default
    assert found == Settings(
        url="https://teamledger.example.com/prod", key="tl-plugin-key", fail_open=False,
        timeout_s=5.0, reserve_attempts=3, settle_attempts=10, backoff_s=0.2,
        max_backoff_s=30.0, lease_s=600, default_input_cost=Decimal("0.00001"),
        default_output_cost=Decimal("0.00003"), default_max_output_tokens=4096)
    assert isinstance(found.reserve_attempts, int)
    assert isinstance(found.lease_s, int)


def test_without_an_env_argument_the_process_environment_is_read(monkeypatch):
    # Given the variables in the process's environment
    monkeypatch.setenv("TEAMLEDGER_URL", "http://127.0.0.1:3000")
    monkeypatch.setenv("TEAMLEDGER_KEY", "from-os-environ")
    monkeypatch.setenv("TEAMLEDGER_FAIL_OPEN", "true")
    # When the settings are read with no mapping
    found = Settings.from_env()
    # Then they come from os.environ
    assert (found.url, found.key, found.fail_open) == (
        "http://127.0.0.1:3000", "from-os-environ", True)


@pytest.mark.parametrize("variable", ["TEAMLEDGER_URL", "TEAMLEDGER_KEY"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_or_blank_url_or_key_is_refused_naming_the_variable(variable, value):
    # Given an environment where the variable is absent or blank
    env = dict(BASE)
    if value is None:
        del env[variable]
    else:
        env[variable] = value
    # When the settings are read
    # Then they are refused, and the message says which variable to fix
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


@pytest.mark.parametrize("url", ["teamledger.example.com", "ftp://teamledger.example.com",
                                 "htp://teamledger", "http://", "//teamledger.example.com"])
def test_a_url_that_is_not_http_is_refused(url):
    # Given a TEAMLEDGER_URL that is not an http(s) address
    # When the settings are read
    # Then they are refused, naming TEAMLEDGER_URL
    with pytest.raises(SettingsError, match="TEAMLEDGER_URL"):
        settings(TEAMLEDGER_URL=url)


@pytest.mark.parametrize(("url", "kept"), [
    ("https://teamledger.example.com/prod/", "https://teamledger.example.com/prod"),
    ("  http://127.0.0.1:3000/  ", "http://127.0.0.1:3000"),
    ("https://teamledger.example.com//", "https://teamledger.example.com"),
    ("HTTP://127.0.0.1:3000", None),
])
def test_the_url_loses_its_trailing_slash_and_spaces(url, kept):
    # Given a URL with a trailing slash or surrounding spaces (or an upper-case scheme)
    if kept is None:
        # Then an upper-case scheme is not taken for http(s)
        with pytest.raises(SettingsError, match="TEAMLEDGER_URL"):
            settings(TEAMLEDGER_URL=url)
        return
    # When the settings are read
    # Then the base URL has neither, so "/spend/reserve" joins it with a single slash
    assert settings(TEAMLEDGER_URL=url).url == kept


def test_the_key_is_kept_without_surrounding_spaces():
    assert settings(TEAMLEDGER_KEY="  tl-key \n").key == "tl-key"


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "on", "On"])
def test_a_true_flag_turns_failing_open_on(value):
    assert settings(TEAMLEDGER_FAIL_OPEN=value).fail_open is True


@pytest.mark.parametrize("value", ["", "0", "false", "False", "no", "OFF", "  "])
def test_a_false_or_empty_flag_leaves_failing_open_off(value):
    assert settings(TEAMLEDGER_FAIL_OPEN=value).fail_open is False


@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "tru"])
def test_a_flag_that_is_neither_true_nor_false_is_refused(value):
    # Given a fail-open flag nobody can read as true or false
    # When the settings are read
    # Then they are refused (rather than guessing fail open or closed), naming the variable
    with pytest.raises(SettingsError, match="TEAMLEDGER_FAIL_OPEN") as refused:
        settings(TEAMLEDGER_FAIL_OPEN=value)
    assert repr(value) in str(refused.value)


@pytest.mark.parametrize(("variable", "value", "field", "expected"), [
    ("TEAMLEDGER_TIMEOUT", "2.5", "timeout_s", 2.5),
    ("TEAMLEDGER_TIMEOUT", "0.1", "timeout_s", 0.1),
    ("TEAMLEDGER_TIMEOUT", "120", "timeout_s", 120.0),
    ("TEAMLEDGER_RESERVE_ATTEMPTS", "1", "reserve_attempts", 1),
    ("TEAMLEDGER_RESERVE_ATTEMPTS", " 20 ", "reserve_attempts", 20),
    ("TEAMLEDGER_SETTLE_ATTEMPTS", "100", "settle_attempts", 100),
    ("TEAMLEDGER_BACKOFF", "0", "backoff_s", 0.0),
    ("TEAMLEDGER_MAX_BACKOFF", "600", "max_backoff_s", 600.0),
    ("TEAMLEDGER_LEASE_SECONDS", "3600", "lease_s", 3600),
    ("TEAMLEDGER_DEFAULT_MAX_OUTPUT_TOKENS", "1", "default_max_output_tokens", 1),
])
def test_numbers_in_range_are_taken(variable, value, field, expected):
    found = getattr(settings(**{variable: value}), field)
    assert found == expected
    assert type(found) is type(expected)


@pytest.mark.parametrize(("variable", "value"), [
    ("TEAMLEDGER_TIMEOUT", "0"),
    ("TEAMLEDGER_TIMEOUT", "121"),
    ("TEAMLEDGER_TIMEOUT", "nan"),
    ("TEAMLEDGER_TIMEOUT", "inf"),
    ("TEAMLEDGER_RESERVE_ATTEMPTS", "0"),
    ("TEAMLEDGER_RESERVE_ATTEMPTS", "21"),
    ("TEAMLEDGER_SETTLE_ATTEMPTS", "101"),
    ("TEAMLEDGER_BACKOFF", "-0.1"),
    ("TEAMLEDGER_MAX_BACKOFF", "601"),
    ("TEAMLEDGER_LEASE_SECONDS", "0"),
    ("TEAMLEDGER_LEASE_SECONDS", "3601"),
    ("TEAMLEDGER_DEFAULT_MAX_OUTPUT_TOKENS", "0"),
])
def test_numbers_out_of_range_are_refused_naming_the_variable(variable, value):
    with pytest.raises(SettingsError, match=f"{variable} must be from .* to .*, not {value}"):
        settings(**{variable: value})


@pytest.mark.parametrize("variable", ["TEAMLEDGER_TIMEOUT", "TEAMLEDGER_RESERVE_ATTEMPTS",
                                      "TEAMLEDGER_SETTLE_ATTEMPTS", "TEAMLEDGER_BACKOFF",
                                      "TEAMLEDGER_MAX_BACKOFF", "TEAMLEDGER_LEASE_SECONDS",
                                      "TEAMLEDGER_DEFAULT_MAX_OUTPUT_TOKENS"])
@pytest.mark.parametrize("value", ["three", "5s", "1,5"])
def test_numbers_that_are_not_numbers_are_refused_naming_the_variable(variable, value):
    with pytest.raises(SettingsError, match=f"{variable} must be a number, not '{value}'"):
        settings(**{variable: value})


@pytest.mark.parametrize("variable", ["TEAMLEDGER_TIMEOUT", "TEAMLEDGER_RESERVE_ATTEMPTS"])
def test_a_blank_number_takes_the_default(variable):
    assert settings(**{variable: "  "}) == Settings.from_env(dict(BASE))


@pytest.mark.parametrize(("variable", "field"), [
    ("TEAMLEDGER_DEFAULT_INPUT_COST_PER_TOKEN", "default_input_cost"),
    ("TEAMLEDGER_DEFAULT_OUTPUT_COST_PER_TOKEN", "default_output_cost"),
])
def test_default_prices_are_exact_decimals(variable, field):
    # Given a default price written as a decimal
    # When the settings are read
    found = getattr(settings(**{variable: "0.0000025"}), field)
    # Then it is that decimal exactly (no float rounding)
    assert found == Decimal("0.0000025")
    assert str(found) == "0.0000025"
    # And zero (a free model) is a price
    assert getattr(settings(**{variable: "0"}), field) == Decimal(0)


@pytest.mark.parametrize("variable", ["TEAMLEDGER_DEFAULT_INPUT_COST_PER_TOKEN",
                                      "TEAMLEDGER_DEFAULT_OUTPUT_COST_PER_TOKEN"])
@pytest.mark.parametrize("value", ["cheap", "-0.001", "NaN", "Infinity", "1e-5 USD"])
def test_a_price_that_is_not_a_finite_non_negative_number_is_refused(variable, value):
    with pytest.raises(SettingsError, match=variable):
        settings(**{variable: value})


def test_a_settings_error_is_a_value_error():
    # The runtime and the auth catch a ValueError to answer 503 "not configured".
    assert issubclass(SettingsError, ValueError)


@pytest.mark.parametrize("variable", ["TEAMLEDGER_RESERVE_ATTEMPTS", "TEAMLEDGER_SETTLE_ATTEMPTS",
                                      "TEAMLEDGER_LEASE_SECONDS",
                                      "TEAMLEDGER_DEFAULT_MAX_OUTPUT_TOKENS"])
def test_a_count_that_is_not_whole_is_refused_naming_the_variable(variable):
    # Given 2.5 tries (or seconds, or tokens)
    # When the settings are read
    # Then they are refused, not silently cut to 2
    with pytest.raises(SettingsError, match=f"{variable} must be a whole number"):
        settings(**{variable: "2.5"})

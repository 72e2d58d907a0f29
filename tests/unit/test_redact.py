"""redact: which names hold secrets, and their values masked in env, text and nested data."""

from __future__ import annotations

import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reconciler.core.redact import MASK, Redactor, is_secret_name, redact_env, secret_values

PROPERTY = settings(database=None, deadline=None)  # no .hypothesis/ folder in the repo


@pytest.mark.parametrize(
    "name",
    ["ANTHROPIC_API_KEY", "GH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN", "aws_secret_access_key",
     "Db_Password", "apikey", "MY_KEY_FILE", "token", "SECRET"],
)  # fmt: skip
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name", ["PATH", "HOME", "ANTHROPIC_BASE_URL", "PASSWD", "AUTH", "CREDENTIALS", "PW", ""]
)
def test_other_names(name: str) -> None:
    assert not is_secret_name(name)


# -- redact_env ---------------------------------------------------------------------------


def test_redact_env_masks_every_secret_value_and_keeps_the_rest() -> None:
    env = {
        "ANTHROPIC_API_KEY": "sk-ant-api03-abcdef",
        "gh_token": "ghp_123",
        "SHORT_SECRET": "ab",  # shown as a variable: masked whatever its length
        "EMPTY_TOKEN": "",  # nothing to hide: shown empty
        "REF_PASSWORD": "${DB_PASSWORD}",  # a reference names a variable, not a value
        "MIXED_KEY": "pre-${K}",  # not only a reference: its literal part may be secret
        "MODE": "fast",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8080",
    }
    assert redact_env(env) == {
        "ANTHROPIC_API_KEY": MASK,
        "gh_token": MASK,
        "SHORT_SECRET": MASK,
        "EMPTY_TOKEN": "",
        "REF_PASSWORD": "${DB_PASSWORD}",
        "MIXED_KEY": MASK,
        "MODE": "fast",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:8080",
    }
    assert env["ANTHROPIC_API_KEY"] == "sk-ant-api03-abcdef"  # the input is left alone


@pytest.mark.parametrize("value", ["${1X}", "${X", "$X", "${X}${Y}", " ${X}", "${X-}"])
def test_only_a_whole_plain_reference_is_shown(value: str) -> None:
    assert redact_env({"API_KEY": value}) == {"API_KEY": MASK}


# -- secret_values ------------------------------------------------------------------------


def test_secret_values_of_several_envs_longest_first_without_repeats() -> None:
    values = secret_values(
        {"API_KEY": "sk-12345", "PATH": "/usr/bin:/bin", "A_TOKEN": "tok-123456789"},
        {"B_TOKEN": "sk-12345", "DB_PASSWORD": "hunter2hunter2", "PW_SECRET": "abcdefgh"},
    )
    assert values == ("hunter2hunter2", "tok-123456789", "abcdefgh", "sk-12345")


def test_secret_values_leave_out_short_empty_and_reference_values() -> None:
    env = {"A_KEY": "abc", "B_KEY": "", "C_KEY": "${ANTHROPIC_API_KEY}", "D_KEY": "abcdefgh"}
    assert secret_values(env) == ("abcdefgh",)


def test_a_short_value_of_a_secret_named_variable_is_a_setting_not_a_secret() -> None:
    env = {"TOKENIZERS_PARALLELISM": "false", "USE_KEYRING": "1", "GH_TOKEN": "ghp_0123456789"}
    assert secret_values(env) == ("ghp_0123456789",)  # every "false" in a log stays readable


def test_secret_values_of_nothing() -> None:
    assert secret_values() == ()
    assert secret_values({"PATH": "/bin"}) == ()


# -- Redactor -----------------------------------------------------------------------------


def test_every_occurrence_of_every_secret_is_masked() -> None:
    r = Redactor(["sk-ant-0001", "hunter22"])
    text = "key=sk-ant-0001 pw=hunter22 again sk-ant-0001sk-ant-0001"
    assert r.text(text) == f"key={MASK} pw={MASK} again {MASK}{MASK}"


def test_values_shorter_than_four_characters_are_not_masked() -> None:
    r = Redactor(["abc", "", "true", "ab"])
    assert r.values == ("true",)
    assert r.text("abc is true") == f"abc is {MASK}"


def test_a_secret_inside_a_longer_one_does_not_leave_parts_of_the_longer_one() -> None:
    """The longest value goes first, whatever order the values come in."""
    long, short = "sk-ant-api03-RANDOMPART", "api03"
    for values in ([short, long], [long, short]):
        r = Redactor(values)
        assert r.text(f"key {long} and {short}") == f"key {MASK} and {MASK}", values


def test_the_values_are_kept_once_longest_first() -> None:
    assert Redactor(["abcd", "abcdef", "abcd", "wxyz"]).values == ("abcdef", "abcd", "wxyz")


def test_overlapping_secrets_leave_neither_whole() -> None:
    out = Redactor(["abcdef", "cdefgh"]).text("xabcdefghx")
    assert "abcdef" not in out and "cdefgh" not in out
    assert out.startswith(f"x{MASK}")


def test_text_without_secrets_is_unchanged() -> None:
    r = Redactor(["sk-ant-0001"])
    assert r.text("sk-ant-000 sk-ant-0002 SK-ANT-0001") == "sk-ant-000 sk-ant-0002 SK-ANT-0001"


def test_nested_data_is_masked_in_every_string() -> None:
    r = Redactor(["s3cr3t-value"])
    data = {
        "event": "PreToolUse",
        "tool_input": {"command": "curl -H 'x-api-key: s3cr3t-value' https://x.invalid"},
        "list": ["s3cr3t-value", 3, None, True, 1.5, {"deep": ["a s3cr3t-value b"]}],
        "tuple": ("s3cr3t-value", "ok"),
        "s3cr3t-value": "keys are names, not values",
    }
    assert r.data(data) == {
        "event": "PreToolUse",
        "tool_input": {"command": f"curl -H 'x-api-key: {MASK}' https://x.invalid"},
        "list": [MASK, 3, None, True, 1.5, {"deep": [f"a {MASK} b"]}],
        "tuple": [MASK, "ok"],
        "s3cr3t-value": "keys are names, not values",
    }


def test_redaction_of_a_hook_line_with_the_env_it_ran_with() -> None:
    """What `orch hook` does: the values of the agent's secret variables leave its lines."""
    env = {"ANTHROPIC_API_KEY": "sk-test-orch-e2e-0123456789abcdef", "ORCH_STAGE": "build"}
    line = {"event": "UserPromptSubmit", "prompt": "use sk-test-orch-e2e-0123456789abcdef",
            "stage": "build"}  # fmt: skip
    assert Redactor(secret_values(env)).data(line) == {
        "event": "UserPromptSubmit",
        "prompt": f"use {MASK}",
        "stage": "build",
    }


SECRET = st.text(st.characters(blacklist_characters="*"), min_size=4, max_size=10)


@PROPERTY
@given(st.lists(SECRET, min_size=1, max_size=4), st.lists(st.text(max_size=8), max_size=6),
       st.randoms())  # fmt: skip
def test_no_secret_is_left_whole(secrets: list[str], filler: list[str], rnd: random.Random) -> None:
    """Secrets interleaved with any text, in any order of values: none survives whole."""
    parts = [*secrets, *filler]
    rnd.shuffle(parts)
    out = Redactor(secrets).text("".join(parts))
    assert not [s for s in secrets if s in out]


@PROPERTY
@given(st.lists(SECRET, max_size=4), st.text(max_size=40))
def test_text_that_holds_no_secret_comes_back_as_it_was(secrets: list[str], text: str) -> None:
    assume(not any(s in text for s in secrets))
    assert Redactor(secrets).text(text) == text

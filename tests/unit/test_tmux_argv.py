"""tmux's configuration-language quoting, read back by a model of tmux's lexer.

The real tmux reads the same text in tests/integration/test_tmux_source.py; this
model (cmd-parse.y, yylex_token, for a double-quoted token) runs thousands of
examples in a moment.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from reconciler.drivers.tmux_argv import config_line, config_quote

_ESCAPE = re.compile(r'\\([0-3][0-7]{2}|.)', re.DOTALL)


def read_quoted(token: str) -> str:
    """What tmux's lexer makes of one double-quoted token (no expansion left in it)."""
    assert token[0] == token[-1] == '"' and len(token) >= 2
    body = token[1:-1]
    bare = _ESCAPE.sub("", body)
    assert not re.search(r'["$~\n\x00-\x1f\x7f]', bare), token  # nothing tmux would act on
    return _ESCAPE.sub(lambda m: chr(int(m[1], 8)) if len(m[1]) == 3 else m[1], body)


@given(st.text(st.characters(exclude_characters="\0")))
def test_a_quoted_value_reads_back_as_itself(value: str) -> None:
    assert read_quoted(config_quote(value)) == value


_TOKEN = re.compile(r'"(?:\\.|[^"\\])*"|;| ')


@given(st.lists(st.lists(st.text(st.characters(exclude_characters="\0")), min_size=1)))
def test_a_line_reads_back_as_its_commands(commands: list[list[str]]) -> None:
    line = config_line(commands)
    assert "\n" not in line
    assert "".join(_TOKEN.findall(line)) == line  # quoted tokens, spaces and ";" only
    read: list[list[str]] = [[]]
    for token in _TOKEN.findall(line):
        if token == ";":
            read.append([])
        elif token != " ":
            read[-1].append(read_quoted(token))
    assert read == (commands or [[]])

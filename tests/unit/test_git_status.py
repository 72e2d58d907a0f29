"""git_status and repo_rows: recorded `git status --porcelain=v2 --branch` outputs, pull verdicts.

The outputs below were recorded from git 2.39 in throwaway repositories (the
ids are real; the commands that made each state are in the comment above it).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.errors import UsageError
from reconciler.core.git_status import GitStatus, parse_last_commit, parse_status
from reconciler.core.model import Repo, Source
from reconciler.core.repo_rows import RepoRow, pull_verdict, select_repos

PROPERTY = settings(database=None, deadline=None)  # no .hypothesis/ folder in the repo

# git init; echo a > a; git add a
INITIAL = """\
# branch.oid (initial)
# branch.head main
1 A. N... 000000 100644 100644 0000000000000000000000000000000000000000 \
78981922613b2afb6025042ff6bd878ac1994e85 a
"""

# a clone, one commit ahead; f edited, g added then moved to h, one untracked file
AHEAD_DIRTY = """\
# branch.oid 59186a2fb4d77eba032acc59fd90f3ba93e8b15f
# branch.head main
# branch.upstream origin/main
# branch.ab +1 -0
1 .M N... 100644 100644 100644 1191247b6d9a206f6ba3d8ac79e26d041dd86941 \
1191247b6d9a206f6ba3d8ac79e26d041dd86941 f
1 A. N... 000000 100644 100644 0000000000000000000000000000000000000000 \
00750edc07d6415dcc07ae0351e9397b0222b7ba h
? untracked
"""

# the same after `git stash`
STASHED = """\
# branch.oid 59186a2fb4d77eba032acc59fd90f3ba93e8b15f
# branch.head main
# branch.upstream origin/main
# branch.ab +1 -0
# stash 1
? untracked
"""

# git checkout --detach
DETACHED = """\
# branch.oid 59186a2fb4d77eba032acc59fd90f3ba93e8b15f
# branch.head (detached)
? untracked
"""

# branch feat tracked origin/feat, then feat was deleted on the remote and fetched with --prune
GONE = """\
# branch.oid 59186a2fb4d77eba032acc59fd90f3ba93e8b15f
# branch.head feat
# branch.upstream origin/feat
"""

# a repo without a remote: a merge in conflict, a committed file renamed, a file named "new\nline"
NO_UPSTREAM_CONFLICT = """\
# branch.oid eca471b55cd91a19c1b4d0574b1547d5d026d18e
# branch.head main
2 R. N... 100644 100644 100644 b77b4eb1d946f923f61785536da9ca5af6909f06 \
b77b4eb1d946f923f61785536da9ca5af6909f06 R100 c d\ta b
u UU N... 100644 100644 100644 100644 d00491fd7e5bb6fa28c517a0bb32b8b506539d4d \
ba2906d0666cf726c7eaadd2cd3db615dedfdf3a 2299c37978265a95cbe835a4b0f0bbf15aad5549 f
? "new\\nline"
"""


def test_initial_commit_has_no_oid_and_counts_the_staged_file() -> None:
    s = parse_status(INITIAL)
    assert (s.oid, s.branch, s.upstream, s.ahead) == (None, "main", None, None)
    assert (s.staged, s.unstaged, s.untracked) == (1, 0, 0)
    assert s.dirty and s.changes_text() == "1 staged"


def test_ahead_and_dirty() -> None:
    s = parse_status(AHEAD_DIRTY)
    assert s.oid == "59186a2fb4d77eba032acc59fd90f3ba93e8b15f"
    assert (s.branch, s.upstream, s.ahead, s.behind) == ("main", "origin/main", 1, 0)
    assert (s.staged, s.unstaged, s.untracked, s.conflicted) == (1, 1, 1, 0)
    assert s.changes_text() == "1 staged, 1 unstaged, 1 untracked"
    assert s.sync_text() == "origin/main +1 -0"
    assert not s.upstream_gone


def test_stash_count() -> None:
    s = parse_status(STASHED)
    assert s.stash == 1 and (s.staged, s.unstaged, s.untracked) == (0, 0, 1)


def test_detached_head_has_no_branch_and_no_upstream() -> None:
    s = parse_status(DETACHED)
    assert s.branch is None and s.oid is not None and s.upstream is None
    assert s.sync_text() == "no upstream"


def test_gone_upstream_has_no_distance() -> None:
    s = parse_status(GONE)
    assert s.upstream == "origin/feat" and s.upstream_gone
    assert (s.ahead, s.behind) == (None, None)
    assert s.sync_text() == "origin/feat (gone)" and not s.dirty


def test_renames_conflicts_and_quoted_names() -> None:
    s = parse_status(NO_UPSTREAM_CONFLICT)
    assert s.upstream is None
    assert (s.staged, s.unstaged, s.untracked, s.conflicted) == (1, 0, 1, 1)
    assert s.changes_text() == "1 conflicted, 1 staged, 1 untracked"


def test_unknown_headers_and_records_are_skipped_but_a_bad_distance_is_an_error() -> None:
    assert parse_status("# branch.oid x\n# branch.future y\n! ignored\n") == GitStatus(oid="x")
    with pytest.raises(ValueError, match=r"branch\.ab"):
        parse_status("# branch.ab 1 2\n")


def test_last_commit() -> None:
    c = parse_last_commit("59186a2f\x001796145114\x00two: with\x00 a NUL in the subject\n")
    assert c is not None and c.time == 1796145114.0
    assert c.subject == "two: with\x00 a NUL in the subject"
    with pytest.raises(ValueError, match="git log"):
        parse_last_commit("garbage")


_RECORD = st.sampled_from(["1 .M", "1 M.", "1 MM", "2 R.", "u UU", "?", "!"])


@PROPERTY
@given(st.lists(_RECORD, max_size=30))
def test_counts_match_the_records(records: list[str]) -> None:
    text = "# branch.oid abc\n# branch.head main\n" + "".join(
        f"{r} N... 100644 100644 100644 a b path\n" if r[0] in "12u" else f"{r} path\n"
        for r in records
    )
    s = parse_status(text)
    assert s.staged == sum(r[0] in "12" and r[2] != "." for r in records)
    assert s.unstaged == sum(r[0] in "12" and r[3] != "." for r in records)
    assert s.conflicted == records.count("u UU")
    assert s.untracked == records.count("?")
    assert s.dirty == any(r != "!" for r in records)


# -- pull verdicts ------------------------------------------------------------------------


def _clean(**kw: object) -> GitStatus:
    base: dict[str, object] = {"oid": "a", "branch": "main", "upstream": "origin/main"}
    return GitStatus(**{**base, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "fetched", "action", "reason"),
    [
        (parse_status(INITIAL), False, "skipped", "no commits yet"),
        (parse_status(DETACHED), False, "skipped", "HEAD is detached"),
        (parse_status(NO_UPSTREAM_CONFLICT), False, "skipped", "branch main has no upstream"),
        (parse_status(AHEAD_DIRTY), False, "refused", "dirty (1 staged, 1 unstaged, 1 untracked)"),
        (_clean(), False, "fetch", ""),
        (parse_status(GONE), True, "skipped", "upstream origin/feat is gone"),
        (_clean(ahead=2, behind=3), True, "refused", "diverged: 2 ahead, 3 behind origin/main"),
        (_clean(ahead=0, behind=3), True, "fast-forward", "3 behind origin/main"),
        (_clean(ahead=2, behind=0), True, "up-to-date", "2 ahead of origin/main"),
        (_clean(ahead=0, behind=0), True, "up-to-date", ""),
    ],
)
def test_pull_verdict(status: GitStatus, fetched: bool, action: str, reason: str) -> None:
    verdict = pull_verdict(status, fetched=fetched)
    assert verdict.action == action
    assert verdict.reason.startswith(reason)


# -- rows and selection -------------------------------------------------------------------


def _repo(name: str) -> Repo:
    return Repo(name, None, None, "main", (), {}, Source("specs/r.yaml", 1, 1))


def test_select_repos_keeps_spec_order_and_names_the_unknown() -> None:
    repos = {n: _repo(n) for n in ("b", "a", "c")}
    assert [r.name for r in select_repos(repos, [])] == ["b", "a", "c"]
    assert [r.name for r in select_repos(repos, ["c", "a", "c"])] == ["c", "a"]
    with pytest.raises(UsageError, match=r'unknown repo "x", "y" \(repos in the specs: a, b, c\)'):
        select_repos(repos, ["x", "a", "y"])


def test_row_json_of_an_error_row_and_of_a_read_row() -> None:
    row = RepoRow("a", "/r/a", None, worktrees=2, workers=3, error="path /r/a does not exist")
    data = row.to_json(now=100.0)
    assert data["error"] == "path /r/a does not exist" and data["branch"] is None
    assert (data["worktrees"], data["workers"]) == (2, 3)
    commit = parse_last_commit("ab\x0040\x00subject")
    read = RepoRow("a", "/r/a", None, 0, 0, parse_status(AHEAD_DIRTY), commit).to_json(now=100.0)
    assert read["lastCommit"] == {
        "sha": "ab", "subject": "subject", "time": "1970-01-01T00:00:40Z", "ageSeconds": 60,
    }  # fmt: skip
    assert (read["clean"], read["ahead"], read["behind"], read["untracked"]) == (False, 1, 0, 1)

"""`orch repos` and `orch repos pull` on real git repositories (clones of a bare origin)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from reconciler.core.git_status import LastCommit
from reconciler.drivers.git import init_repo
from reconciler.loop.repos import load_specs, pull_repos, repo_rows


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def commit(repo: Path, name: str, text: str, message: str) -> str:
    (repo / name).write_text(text)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def origin_and_clones(tmp: Path, *names: str) -> Path:
    """A bare origin with one commit, and a clone of it at tmp/<name> for each name."""
    seed = tmp / "seed"
    init_repo(seed)
    commit(seed, "README.md", "hello\n", "first")
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(tmp / "origin.git")], check=True)
    for name in names:
        subprocess.run(["git", "clone", "-q", str(tmp / "origin.git"), str(tmp / name)], check=True)
    return tmp / "origin.git"


def control(tmp: Path, repos: dict[str, dict[str, Any]], extra: str = "") -> Path:
    root = tmp / "ctl"
    (root / "specs").mkdir(parents=True)
    docs = [{"apiVersion": "orch/v1", "kind": "Repo", "metadata": {"name": n}, "spec": spec}
            for n, spec in repos.items()]  # fmt: skip
    (root / "specs" / "repos.yaml").write_text(yaml.safe_dump_all(docs) + extra)
    return root


def orch(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `orch` CLI of this environment; never a traceback."""
    done = subprocess.run([str(Path(sys.executable).parent / "orch"), "--root", str(root), *args],
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
                          timeout=60)  # fmt: skip
    assert "Traceback" not in done.stdout + done.stderr, done
    return done


WORKER = """---
apiVersion: orch/v1
kind: Agent
metadata: {name: fake}
spec: {command: [sh, -c, "sleep 1"]}
---
apiVersion: orch/v1
kind: Pipeline
metadata: {name: p}
spec:
  stages: [{name: work, prompt: stage.md.j2}]
---
apiVersion: orch/v1
kind: Worker
metadata: {name: w1}
spec: {repo: ahead, pipeline: p, agent: fake}
"""


def test_the_table_has_a_dirty_an_ahead_a_missing_and_a_broken_repo(tmp_path: Path) -> None:
    origin_and_clones(tmp_path, "clean", "dirty", "ahead")
    head = commit(tmp_path / "ahead", "a.txt", "a\n", "ahead by one")
    dirty = tmp_path / "dirty"
    (dirty / "README.md").write_text("changed\n")  # unstaged
    (dirty / "new.txt").write_text("new\n")
    git(dirty, "add", "new.txt")  # staged
    (dirty / "loose-1").write_text("")
    (dirty / "loose-2").write_text("")  # untracked
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / ".git").write_text("gitdir: /nowhere\n")
    root = control(tmp_path, {n: {"path": f"../{n}"}
                              for n in ("clean", "dirty", "ahead", "missing", "broken")},
                   WORKER)  # fmt: skip
    (root / "stage.md.j2").write_text("work\n")
    git(tmp_path / "ahead", "worktree", "add", "-q", str(root / "worktrees/ahead/w1"), "-b", "w1")

    rows = {row.name: row for row in repo_rows(load_specs(root))}

    assert list(rows) == ["clean", "dirty", "ahead", "missing", "broken"]
    clean, dirty_row, ahead = rows["clean"].status, rows["dirty"].status, rows["ahead"].status
    assert clean is not None and not clean.dirty and (clean.ahead, clean.behind) == (0, 0)
    assert dirty_row is not None
    assert (dirty_row.staged, dirty_row.unstaged, dirty_row.untracked) == (1, 1, 2)
    assert ahead is not None
    assert (ahead.upstream, ahead.ahead, ahead.behind) == ("origin/main", 1, 0)
    last = rows["ahead"].last_commit
    assert last is not None and (last.sha, last.subject) == (head, "ahead by one")
    assert (rows["ahead"].worktrees, rows["ahead"].workers) == (1, 1)
    assert (rows["clean"].worktrees, rows["clean"].workers) == (0, 0)
    assert rows["missing"].status is None
    assert rows["missing"].error == f"path {tmp_path / 'missing'} does not exist"
    assert rows["broken"].status is None and "not a git repository" in (rows["broken"].error or "")

    done = orch(root, "repos", "--json")
    assert done.returncode == 0, done.stderr
    by_name = {r["name"]: r for r in json.loads(done.stdout)["repos"]}
    assert by_name["dirty"]["clean"] is False and by_name["dirty"]["untracked"] == 2
    assert by_name["ahead"]["ahead"] == 1 and by_name["ahead"]["lastCommit"]["sha"] == head
    assert by_name["missing"]["error"].endswith("does not exist")

    table = orch(root, "repos")
    assert table.returncode == 0 and "Traceback" not in table.stderr
    lines = {line.split()[0]: line for line in table.stdout.splitlines()[1:]}
    assert "1 staged, 1 unstaged, 2 untracked" in lines["dirty"]
    assert "origin/main +1 -0" in lines["ahead"] and "ahead by one" in lines["ahead"]
    assert "error: path" in lines["missing"]


def test_pull_fast_forwards_a_clean_behind_repo_and_leaves_the_others(tmp_path: Path) -> None:
    origin = origin_and_clones(tmp_path, "behind", "dirty", "diverged", "pusher")
    old = git(tmp_path / "behind", "rev-parse", "HEAD")
    commit(tmp_path / "diverged", "mine.txt", "mine\n", "local work")
    local = git(tmp_path / "diverged", "rev-parse", "HEAD")
    (tmp_path / "dirty" / "README.md").write_text("my edit\n")
    new = commit(tmp_path / "pusher", "more.txt", "more\n", "upstream work")
    git(tmp_path / "pusher", "push", "-q", "origin", "main")
    root = control(tmp_path, {
        "behind": {"path": "../behind"}, "dirty": {"path": "../dirty"},
        "diverged": {"path": "../diverged"}, "remote": {"url": str(origin)},
    })  # fmt: skip

    results = {r.name: r for r in pull_repos(load_specs(root))}

    assert (results["behind"].result, results["behind"].before, results["behind"].after) == (
        "updated", old, new,
    )  # fmt: skip
    assert git(tmp_path / "behind", "rev-parse", "HEAD") == new
    assert results["dirty"].result == "refused" and "dirty (1 unstaged)" in results["dirty"].reason
    assert git(tmp_path / "dirty", "rev-parse", "HEAD") == old
    assert git(tmp_path / "dirty", "rev-parse", "origin/main") == old  # not even fetched
    assert (tmp_path / "dirty" / "README.md").read_text() == "my edit\n"
    assert results["diverged"].result == "refused"
    assert results["diverged"].reason.startswith("diverged: 1 ahead, 1 behind origin/main")
    assert git(tmp_path / "diverged", "rev-parse", "HEAD") == local
    assert results["remote"].result == "cloned" and results["remote"].after == new
    assert git(root / "clones" / "remote", "rev-parse", "HEAD") == new

    again = orch(root, "repos", "pull", "behind", "dirty")
    assert again.returncode == 0, again.stderr
    rows = {line.split()[0]: line.split()[1] for line in again.stdout.splitlines()[1:]}
    assert rows == {"behind": "up-to-date", "dirty": "refused"}


def test_pull_of_an_unknown_repo_is_a_usage_error_and_a_missing_one_fails(tmp_path: Path) -> None:
    root = control(tmp_path, {"gone": {"path": "../gone"}})
    unknown = orch(root, "repos", "pull", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == 'error: unknown repo "nope" (repos in the specs: gone)'
    missing = orch(root, "repos", "pull")
    assert missing.returncode == 1 and "does not exist" in missing.stdout


def test_last_commits_are_remembered_by_id_and_a_new_head_is_read(tmp_path: Path) -> None:
    origin_and_clones(tmp_path, "app")
    root = control(tmp_path, {"app": {"path": "../app"}})
    [first] = repo_rows(load_specs(root))
    assert first.last_commit is not None and first.last_commit.subject == "first"
    cache = root / "state" / "repo-commits.json"
    # A commit never changes, so what is remembered for its id is what the row shows:
    # proof that no `git log` ran for it.
    cache.write_text(json.dumps({first.last_commit.sha: [1.0, "as remembered"]}))
    [again] = repo_rows(load_specs(root))
    assert again.last_commit == LastCommit(first.last_commit.sha, 1.0, "as remembered")
    new = commit(tmp_path / "app", "b.txt", "b\n", "second")
    [moved] = repo_rows(load_specs(root))
    assert moved.last_commit is not None
    assert (moved.last_commit.sha, moved.last_commit.subject) == (new, "second")
    assert list(json.loads(cache.read_text())) == [new]  # one entry a repo
    cache.write_text("{not json")
    [broken] = repo_rows(load_specs(root))
    assert broken.last_commit is not None and broken.last_commit.subject == "second"

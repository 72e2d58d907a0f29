"""Reports into git and GitOps pull: `orch report`, report commits, push, pull, two hosts.

Every control repo here is a clone of a bare remote in ``tmp_path`` (``remote.git``),
so pushes and pulls are real. Workers run real agents (tests/agents/watch/
sleep_long.sh) in tmux on the test's private sockets; the report commands run
through the real CLI in a subprocess, with ``ORCH_TMUX_SOCKET`` (and ``ORCH_HOST``)
set for the host they play.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.core.report import without_generated
from reconciler.data import packaged
from reconciler.loop import engine
from reconciler.loop.control_repo import pull_once
from reconciler.loop.publish_report import build
from reconciler.loop.spec_revision import revision_info

AGENT = Path(__file__).resolve().parents[1] / "agents" / "watch" / "sleep_long.sh"
AUTHOR = "Report Bot <reports@example.invalid>"
Retry = Callable[..., Any]
PROMPT = "Worker {{ worker }}, stage {{ stage }}. When done, write {{ signal_file }}.\n"


def git(cwd: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False
    )
    assert not check or done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout.strip()


def doc(kind: str, name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "orch/v1", "kind": kind, "metadata": {"name": name}, "spec": dict(spec)}


def config_yaml(socket: str, **sections: Mapping[str, Any]) -> str:
    data: dict[str, Any] = {
        "tmux": {"socket": socket, "session": "orch"},
        "reconcile": {"resync": "1s", "debounce": "200ms"},
        "reports": {"commit": False, "author": AUTHOR, "minInterval": "1h"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return yaml.safe_dump(data, sort_keys=False)


@dataclass
class Host:
    """One clone of the control repo, as one workstation sees it."""

    root: Path
    socket: str
    name: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.env = {"ORCH_TMUX_SOCKET": self.socket}
        if self.name:
            self.env["ORCH_HOST"] = self.name

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.root, *args, check=check)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))

    def workers(self, workers: Mapping[str, Mapping[str, Any]] | list[str]) -> None:
        items = workers if isinstance(workers, Mapping) else {n: {} for n in workers}
        docs = [
            doc("Worker", n, {"repo": "app", "pipeline": "p", "agent": "fake", **extra})
            for n, extra in items.items()
        ]
        self.write("specs/workers.yaml", yaml.safe_dump_all(docs, sort_keys=False))

    def commit(self, message: str, *paths: str) -> str:
        self.git("add", "--", *(paths or ("specs", "config")))
        self.git("commit", "-q", "-m", message)
        return self.head()

    def reconcile(self) -> engine.PassResult:
        result = engine.reconcile_pass(
            engine.load(self.root, {**os.environ, **self.env}), grace=1.0
        )
        assert all(e.ok for e in result.events), result.events
        return result

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [
            sys.executable,
            "-c",
            "from reconciler.cli.app import main; main()",
            "--root",
            str(self.root),
            *args,
        ]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            check=False,
        )
        assert "Traceback" not in done.stdout + done.stderr, done
        assert not check or done.returncode == 0, done
        return done

    def report(self, *flags: str) -> dict[str, Any]:
        out = json.loads(self.cli("report", "--json", *flags).stdout)
        assert isinstance(out, dict)
        return out

    def status(self) -> dict[str, Any]:
        out = json.loads(self.cli("status", "--json").stdout)
        assert isinstance(out, dict)
        return out

    def windows(self) -> dict[str, str]:
        """Live orch-owned windows on this host's socket: worker -> pane_dead."""
        done = subprocess.run(
            ["tmux", "-L", self.socket, "list-panes", "-a", "-F", "#{@orch-worker}\t#{pane_dead}"],
            capture_output=True,
            text=True,
            check=False,
        )
        rows = [line.split("\t") for line in done.stdout.splitlines()]
        return {w: dead for w, dead in rows if w}

    def report_text(self, rel: str = "reports/status.md") -> str:
        return (self.root / rel).read_text()


@pytest.fixture
def remote(tmp_path: Path, git_repo: Path) -> Path:
    """A bare remote holding one commit of a control repo (no workers yet)."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True, capture_output=True)
    (seed / ".gitignore").write_text("state/\nworktrees/\n")
    (seed / "README.md").write_text("# control repo\n")
    (seed / "notes.md").write_text("notes\n")
    (seed / "config").mkdir()
    (seed / "config" / "orch.yaml").write_text(config_yaml("orch-unused"))
    (seed / "playbooks" / "prompts").mkdir(parents=True)
    (seed / "playbooks" / "prompts" / "stage.md.j2").write_text(PROMPT)
    (seed / "specs").mkdir()
    base = [
        doc("Repo", "app", {"path": str(git_repo), "defaultBranch": "main"}),
        doc("Agent", "fake", {"command": ["sh", str(AGENT)]}),
        doc(
            "Pipeline",
            "p",
            {
                "stages": [
                    {
                        "name": "work",
                        "prompt": "playbooks/prompts/stage.md.j2",
                        "stallTimeout": "10m",
                        "timeout": "20m",
                    }
                ]
            },
        ),
    ]
    (seed / "specs" / "base.yaml").write_text(yaml.safe_dump_all(base, sort_keys=False))
    (seed / "specs" / "workers.yaml").write_text("# no workers yet\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-q", "-m", "control repo")
    git(seed, "push", "-q", "-u", "origin", "main")
    return bare


@pytest.fixture(name="socket_b")
def socket_b_fixture() -> Iterator[str]:
    """A second private tmux socket (host b); killed and unlinked afterwards."""
    name = f"orch-test-{secrets.token_hex(6)}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, check=False)
    sock = Path(os.environ.get("TMUX_TMPDIR", "/tmp")) / f"tmux-{os.geteuid()}" / name
    sock.unlink(missing_ok=True)


@pytest.fixture
def clone(remote: Path, tmp_path: Path) -> Callable[..., Host]:
    def make(dirname: str, socket: str, name: str | None = None) -> Host:
        root = tmp_path / dirname
        subprocess.run(
            ["git", "clone", "-q", str(remote), str(root)], check=True, capture_output=True
        )
        return Host(root, socket, name)

    return make


@pytest.fixture
def ctl(clone: Callable[..., Host], tmux_socket: str, monkeypatch: pytest.MonkeyPatch) -> Host:
    """Clone A of the remote, on the test's tmux socket."""
    monkeypatch.setenv("ORCH_TMUX_SOCKET", tmux_socket)
    return clone("a", tmux_socket)


def running(host: Host, names: list[str]) -> None:
    """Commit these workers, reconcile, and check they all run."""
    host.workers(names)
    host.commit(f"workers: {', '.join(names)}")
    host.reconcile()
    assert sorted(n for n, dead in host.windows().items() if dead == "0") == sorted(names)


def changed_paths(host: Host, rev: str = "HEAD") -> list[str]:
    return host.git("show", "--name-only", "--format=", rev).splitlines()


def is_ancestor(host: Host, older: str, newer: str) -> bool:
    done = subprocess.run(
        ["git", "-C", str(host.root), "merge-base", "--is-ancestor", older, newer],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def spec_revision(host: Host) -> tuple[str, str]:
    sha, subject = host.git("log", "-1", "--format=%h%x00%s", "--", "specs", "config").split("\0")
    return sha, subject


# -- rendering ----------------------------------------------------------------------------


def test_report_renders_deterministically_and_an_unchanged_fleet_is_not_rewritten(
    ctl: Host,
) -> None:
    running(ctl, ["w1", "w2", "w3"])
    first = ctl.report()
    path = ctl.root / "reports" / "status.md"
    assert first == {"path": str(path), "changed": True, "commit": None, "note": "written"}
    text = path.read_text()
    assert "| Running | 3 |" in text
    for name in ("w1", "w2", "w3"):
        assert f"| {name} | Running | work (1/1) | 1 | 0 |" in text
        assert f"`orch/{name}`" in text
    sha, subject = spec_revision(ctl)
    assert f'Specs at revision `{sha}` "{subject}".' in text
    assert "start-agent work#1: new worker" in text
    before = path.stat()

    second = ctl.report()
    assert second["changed"] is False
    assert second["note"] == "unchanged"
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert ctl.git("status", "--porcelain", "--", "reports") == "?? reports/"

    # rendering the same pass at two times differs only in the "Generated" line
    desired = engine.load(ctl.root)
    observed = engine.snapshot(desired)
    result = engine.PassResult(desired, observed, engine.make_plan(desired, observed), ())
    now = time.time()
    early, _ = build(result, now)
    late, _ = build(result, now + 3 * 3600)
    assert early != late
    diff = [(a, b) for a, b in zip(early.splitlines(), late.splitlines(), strict=True) if a != b]
    assert len(diff) == 1
    assert diff[0][0].startswith("Generated ")
    assert without_generated(early) == without_generated(late)
    assert without_generated(early) == without_generated(path.read_text())


# -- report commits --------------------------------------------------------------------------


def test_report_commit_touches_only_reports_keeps_staged_changes_and_is_not_repeated(
    ctl: Host,
) -> None:
    running(ctl, ["w1", "w2", "w3"])
    ctl.write("README.md", "# control repo\n\nstaged edit\n")
    ctl.write("draft.md", "a new staged file\n")
    ctl.git("add", "README.md", "draft.md")
    ctl.write("notes.md", "unstaged edit\n")
    ctl.write("scratch.txt", "untracked\n")
    staged_before = ctl.git("diff", "--cached")
    index_before = ctl.git("ls-files", "-s").splitlines()
    status_before = ctl.git("status", "--porcelain").splitlines()
    head = ctl.head()

    out = ctl.report("--commit")
    assert out["commit"], out
    assert out["note"] == "committed"
    assert ctl.head() == out["commit"]
    assert ctl.git("rev-parse", "HEAD^") == head
    paths = changed_paths(ctl)
    runs = [f"reports/workers/{name}.md" for name in ("w1", "w2", "w3")]
    assert paths == ["reports/status.md", *runs]
    assert ctl.git("log", "-1", "--format=%an <%ae>|%cn <%ce>|%s") == (
        f"{AUTHOR}|{AUTHOR}|orch: status: 3 running"
    )
    # the user's index and working tree are as they were
    assert ctl.git("diff", "--cached", "--name-only").splitlines() == ["README.md", "draft.md"]
    assert ctl.git("diff", "--cached") == staged_before
    assert ctl.git("diff", "--name-only").splitlines() == ["notes.md"]
    assert (ctl.root / "notes.md").read_text() == "unstaged edit\n"
    assert "draft.md" not in ctl.git("ls-tree", "-r", "--name-only", "HEAD").splitlines()
    # the report's own entries are clean in the index and the working tree
    assert ctl.git("status", "--porcelain", "--", "reports") == ""
    # the index changed by the reports' own entries (the fleet's, the run reports), the
    # status not at all
    index_after = ctl.git("ls-files", "-s").splitlines()
    entries = [f"100644 {ctl.git('rev-parse', f'HEAD:{p}')} 0\t{p}" for p in paths]
    assert sorted([*index_before, *entries]) == sorted(index_after)
    assert ctl.git("status", "--porcelain").splitlines() == [
        x for x in status_before if "reports" not in x
    ]
    assert ctl.git("stash", "list") == ""

    # nothing changed: no commit
    head = ctl.head()
    again = ctl.report("--commit")
    assert again["commit"] is None
    assert again["note"] == "unchanged"
    assert ctl.head() == head
    assert ctl.git("diff", "--cached", "--name-only").splitlines() == ["README.md", "draft.md"]


def test_an_explicit_commit_commits_whenever_the_content_changed(ctl: Host) -> None:
    running(ctl, ["w1", "w2"])
    first = ctl.report("--commit")
    assert first["commit"]
    # new content (the specs revision moves), same phases, well within minInterval (1h)
    ctl.write("config/orch.yaml", ctl.root.joinpath("config/orch.yaml").read_text() + "# x\n")
    ctl.commit("tweak config")
    moved = ctl.report("--commit")
    assert moved["changed"] is True
    assert moved["commit"], moved
    assert changed_paths(ctl) == ["reports/status.md"]
    assert "tweak config" in ctl.git("show", "HEAD:reports/status.md")
    # the file was written by `orch report` alone: the commit takes it as it is
    ctl.write("config/orch.yaml", ctl.root.joinpath("config/orch.yaml").read_text() + "# y\n")
    ctl.commit("tweak config again")
    assert ctl.report()["note"] == "written"
    taken = ctl.report("--commit")
    assert (taken["changed"], taken["note"]) == (False, "committed")
    assert ctl.git("show", "HEAD:reports/status.md") == ctl.report_text().rstrip("\n")
    assert ctl.git("status", "--porcelain") == ""
    # only the Generated line would differ: nothing to commit
    assert ctl.report("--commit")["note"] == "unchanged"


def test_a_run_report_that_alone_changed_is_committed(ctl: Host) -> None:
    running(ctl, ["w1"])
    assert ctl.report("--commit")["commit"]
    assert ctl.report("--commit")["note"] == "unchanged"
    # the control repo's own run report template: the fleet report stays as it was
    custom = ctl.root / "reports" / "templates" / "worker.md.j2"
    custom.parent.mkdir(parents=True, exist_ok=True)
    custom.write_text(packaged("reports/templates/worker.md.j2") + "\nAsk #team about it.\n")
    out = ctl.report("--commit")
    assert (out["note"], out["changed"]) == ("committed", True), out
    assert changed_paths(ctl) == ["reports/workers/w1.md"]
    assert "Ask #team about it." in ctl.git("show", "HEAD:reports/workers/w1.md")
    assert ctl.report("--commit")["note"] == "unchanged"


def test_the_report_waits_while_head_is_detached_or_a_merge_is_in_progress(ctl: Host) -> None:
    running(ctl, ["w1"])
    ctl.git("switch", "-q", "-c", "side")
    ctl.write("notes.md", "side\n")
    ctl.commit("side notes", "notes.md")
    ctl.git("switch", "-q", "main")
    ctl.write("notes.md", "main\n")
    ctl.commit("main notes", "notes.md")
    assert "CONFLICT" in ctl.git("merge", "side", check=False)  # the merge goes on
    assert (ctl.root / ".git" / "MERGE_HEAD").exists()
    head, status = ctl.head(), ctl.git("status", "--porcelain", "--", ".", ":!reports")

    out = ctl.report("--commit")
    assert out["commit"] is None
    assert out["note"].startswith("waiting: a merge is in progress;"), out
    assert ctl.head() == head
    assert ctl.git("status", "--porcelain", "--", ".", ":!reports") == status
    assert (ctl.root / ".git" / "MERGE_HEAD").exists()
    assert "report waiting: a merge is in progress" in ctl.cli("status").stdout
    assert ctl.status()["reportWaiting"].startswith("waiting: a merge is in progress")

    ctl.git("merge", "--abort")
    assert "CONFLICT" in ctl.git("rebase", "side", check=False)  # the rebase stops
    rebasing = ctl.report("--commit")
    assert rebasing["note"].startswith("waiting: a rebase is in progress;"), rebasing
    assert (ctl.root / ".git" / "rebase-merge").is_dir()
    ctl.git("rebase", "--abort")
    assert ctl.head() == head
    ctl.git("switch", "-q", "--detach")
    detached = ctl.report("--commit")
    assert detached["note"].startswith("waiting: HEAD is detached;"), detached
    assert ctl.head() == head

    ctl.git("switch", "-q", "main")
    done = ctl.report("--commit")
    assert done["commit"] and done["note"] == "committed", done
    assert ctl.git("rev-parse", "HEAD^") == head
    assert "waiting" not in ctl.cli("status").stdout
    assert ctl.status()["reportWaiting"] is None


def test_push_needs_a_branch_of_its_own(ctl: Host) -> None:
    running(ctl, ["w1"])
    head = ctl.head()
    done = ctl.cli("report", "--push", check=False)
    assert done.returncode == 1
    assert done.stderr.startswith("error: --push needs reports.branch"), done.stderr
    assert "would push your own unpushed commits" in done.stderr
    assert ctl.head() == head


# -- revision ------------------------------------------------------------------------------


def test_revision_is_the_last_commit_touching_specs_or_config(ctl: Host) -> None:
    running(ctl, ["w1"])
    ctl.write("notes.md", "later notes\n")
    ctl.commit("notes only", "notes.md")  # touches neither specs/ nor config/
    sha, subject = spec_revision(ctl)
    assert subject == "workers: w1"

    status = ctl.status()
    assert status["revision"] == {"sha": sha, "subject": "workers: w1"}
    assert status["specsDirty"] is False
    assert [w["name"] for w in status["workers"]] == ["w1"]
    plain = ctl.cli("status").stdout
    assert plain.splitlines()[0] == f'specs at {sha} "workers: w1"'

    ctl.report("--commit")
    assert ctl.git("log", "-1", "--format=%s") == "orch: status: 1 running"
    assert revision_info(ctl.root) == {
        "revision": {"sha": sha, "subject": "workers: w1"},
        "specsDirty": False,
        "pendingSpecs": [],
    }
    assert f'Specs at revision `{sha}` "workers: w1".' in ctl.report_text()

    ctl.write("specs/workers.yaml", ctl.root.joinpath("specs/workers.yaml").read_text() + "#\n")
    dirty = ctl.status()
    assert dirty["specsDirty"] is True
    assert dirty["revision"] == {"sha": sha, "subject": "workers: w1"}
    ctl.report()
    assert "(specs/ has uncommitted changes)" in ctl.report_text()


# -- GitOps pull ---------------------------------------------------------------------------


@pytest.fixture
def pair(ctl: Host, clone: Callable[..., Host]) -> tuple[Host, Host]:
    """Clone A (``ctl``) and clone B of the same remote."""
    return ctl, clone("b", "orch-unused")


def test_pull_fast_forwards_a_spec_change_pushed_from_another_clone(
    pair: tuple[Host, Host],
) -> None:
    a, b = pair
    assert pull_once(a.root) == []  # nothing new
    old = a.head()
    b.workers(["w9"])
    new = b.commit("add w9")
    b.git("push", "-q")

    assert pull_once(a.root) == [f"pulled {old[:7]}..{new[:7]}"]
    assert a.head() == new
    assert "name: w9" in (a.root / "specs" / "workers.yaml").read_text()
    assert pull_once(a.root) == []


def test_pull_refuses_a_non_fast_forward(pair: tuple[Host, Host]) -> None:
    a, b = pair
    a.write("notes.md", "local\n")
    mine = a.commit("local commit", "notes.md")
    b.workers(["w9"])
    b.commit("add w9")
    b.git("push", "-q")

    lines = pull_once(a.root)
    assert len(lines) == 1
    assert lines[0].startswith("warning: pull failed, staying at the current revision:"), lines
    assert a.head() == mine
    assert "w9" not in (a.root / "specs" / "workers.yaml").read_text()
    assert a.git("status", "--porcelain") == ""


def test_pull_is_skipped_with_uncommitted_spec_edits(pair: tuple[Host, Host]) -> None:
    a, b = pair
    b.workers(["w9"])
    b.commit("add w9")
    b.git("push", "-q")
    head = a.head()
    a.write("specs/workers.yaml", "# my local edit\n")

    assert pull_once(a.root) == [
        "warning: pull skipped: uncommitted changes in specs/workers.yaml; staying put"
    ]
    assert a.head() == head
    assert (a.root / "specs" / "workers.yaml").read_text() == "# my local edit\n"


def test_pull_with_only_local_commits_is_quiet(pair: tuple[Host, Host]) -> None:
    a, _ = pair
    running(a, ["w1"])  # a local, unpushed spec commit ...
    a.report("--commit")  # ... and a local report commit, as with reports.push: false
    head = a.head()
    assert pull_once(a.root) == []
    assert a.head() == head


def test_watch_pulls_and_starts_a_worker_pushed_from_another_clone(
    pair: tuple[Host, Host], retry_until: Retry
) -> None:
    a, b = pair
    a.write("config/orch.yaml", config_yaml(a.socket, git={"pull": True, "pullInterval": "1s"}))
    a.commit("pull every second")
    a.git("push", "-q")
    b.git("pull", "-q")
    argv = [
        sys.executable,
        "-c",
        "from reconciler.cli.app import main; main()",
        "--root",
        str(a.root),
        "reconcile",
        "--watch",
        "--json",
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **a.env},
        stdin=subprocess.DEVNULL,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True
    )  # type: ignore[union-attr]
    reader.start()
    try:
        retry_until(lambda: any("watching" in x for x in lines), 15)
        b.workers(["w9"])
        new = b.commit("add w9")
        b.git("push", "-q")
        retry_until(lambda: a.windows().get("w9") == "0", 15, message="w9 running on a")
        assert a.head() == new
        notices = [json.loads(x).get("notice", "") for x in lines]
        assert any(n.startswith("pulled ") and n.endswith(new[:7]) for n in notices), lines
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
        reader.join(timeout=5)


# -- two hosts -------------------------------------------------------------------------------


def test_two_hosts_run_their_own_workers_and_push_their_own_reports(
    clone: Callable[..., Host], tmux_socket: str, socket_b: str, remote: Path
) -> None:
    a = clone("a", tmux_socket, "a")
    b = clone("b", socket_b, "b")
    reports = {"path": "reports/{host}.md", "branch": "orch/status"}
    a.write("config/orch.yaml", config_yaml(a.socket, reports=reports))
    a.workers({"wa": {"host": "a"}, "wb": {"host": "b"}, "wu": {}})
    a.commit("two hosts")
    a.git("push", "-q")
    b.git("pull", "-q")

    # with the default host.runUnplaced (true), the unplaced worker is planned on
    # BOTH hosts: the config is shared through git, so it cannot be true on one only
    for host, own in ((a, "wa"), (b, "wb")):
        desired = engine.load(host.root, {**os.environ, **host.env})
        plan = engine.make_plan(desired, engine.snapshot(desired))
        starts = sorted(x.worker for x in plan.actions if x.verb == "start-agent")
        assert starts == sorted([own, "wu"])
    # so this fleet runs unplaced workers nowhere
    a.write(
        "config/orch.yaml",
        config_yaml(a.socket, reports=reports, host={"runUnplaced": False}),
    )
    a.commit("no unplaced workers")
    a.git("push", "-q")
    assert pull_once(b.root)[0].startswith("pulled ")

    a.reconcile()
    b.reconcile()
    assert a.windows() == {"wa": "0"}
    assert b.windows() == {"wb": "0"}

    # round 1, one after the other: b's push is made again on a's report
    out_a = a.report("--commit", "--push")
    out_b = b.report("--commit", "--push")
    assert out_a["note"] == "committed to orch/status and pushed (1 try)", out_a
    assert out_b["note"] == "committed to orch/status and pushed (2 tries)", out_b
    assert out_a["path"] == str(a.root / "state" / "reports" / "a.md")
    assert out_b["path"] == str(b.root / "state" / "reports" / "b.md")

    # round 2, at the same time: both reports change (the specs revision moves)
    b.write("specs/workers.yaml", (b.root / "specs/workers.yaml").read_text() + "# round 2\n")
    b.commit("round 2")
    b.git("push", "-q")
    assert pull_once(a.root)[0].startswith("pulled ")
    results: dict[str, dict[str, Any]] = {}
    threads = [
        threading.Thread(
            target=lambda h=h: results.__setitem__(h.name or "", h.report("--commit", "--push"))
        )
        for h in (a, b)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results["a"]["commit"] and results["b"]["commit"], results
    notes = [r["note"] for r in results.values()]
    assert all(n.startswith("committed to orch/status and pushed") for n in notes), notes

    # both hosts' reports are in orch/status's history, without a merge commit; main has none
    log = git(remote, "log", "--format=%s", "--name-only", "orch/status")
    assert log.count("reports/a.md") == 2
    assert log.count("reports/b.md") == 2
    assert git(remote, "rev-list", "--merges", "--count", "orch/status") == "0"
    tree = git(remote, "ls-tree", "-r", "--name-only", "orch/status").splitlines()
    # and each host's run reports, of its own workers alone
    assert tree == [
        "reports/a.md",
        "reports/b.md",
        "reports/workers/wa.md",
        "reports/workers/wb.md",
    ]
    assert git(remote, "log", "--format=%s", "main", "--", "reports") == ""
    report_a = git(remote, "show", "orch/status:reports/a.md")
    report_b = git(remote, "show", "orch/status:reports/b.md")
    assert report_a.startswith("# Fleet status: a\n")
    assert report_b.startswith("# Fleet status: b\n")
    assert "| wa | Running |" in report_a
    assert "| wb |" not in report_a
    assert "| wu |" not in report_a
    assert "| wb | Running |" in report_b
    assert "| wa |" not in report_b
    for host in (a, b):
        assert host.git("status", "--porcelain") == ""
        assert not (host.root / "reports").exists()  # never written into the work tree

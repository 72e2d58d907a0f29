"""Run git commands on a repository and its worktrees; return raw output.

Every command is an argv list run by GitPython's ``Git.execute`` with an explicit
``git -C <dir>``: GitPython quietly falls back to the current directory when its
working directory is missing, and ``-C`` makes git fail instead. Failures become
:class:`~reconciler.core.errors.DriverError` (``"git <subcommand>: <stderr>"``).

Commits orch makes itself (the first commit of :func:`init_repo`, work saved by
:meth:`Git.save_work`) use a fixed identity and are never signed, so they do not
depend on, or prompt through, the user's git configuration.

GitPython is imported lazily (it runs ``git version`` on import): CLI start-up
time matters.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Mapping
from pathlib import Path

from reconciler.core.errors import DriverError

ORCH_IDENTITY: Mapping[str, str] = {
    "GIT_AUTHOR_NAME": "orch",
    "GIT_AUTHOR_EMAIL": "orch@localhost",
    "GIT_COMMITTER_NAME": "orch",
    "GIT_COMMITTER_EMAIL": "orch@localhost",
}
_PREFIX = "\n  stderr: '"
DEFAULT_TIMEOUT = 60.0  # local git calls; config timeouts.git
NETWORK_TIMEOUT = 600.0  # clone, fetch, push; config timeouts.network
OWNED = "refs/orch/owned/"  # refs/orch/owned/<fleet>/<branch>: branches a fleet created


def _stderr(err: Exception) -> str:
    """The raw stderr of a GitPython error (it wraps it as ``"\\n  stderr: '...'"``)."""
    text = str(getattr(err, "stderr", "") or "")
    if text.startswith(_PREFIX) and text.endswith("'"):
        text = text[len(_PREFIX) : -1]
    return text.strip()


def _execute(
    argv: list[str],
    env: Mapping[str, str] | None = None,
    quiet_miss: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: bytes | None = None,
) -> str:
    """Run ``git <argv>``; return stdout without its last newline.

    Errors name the subcommand: the first argument after the ``-C <dir>`` and
    ``-c <name=value>`` options. With ``quiet_miss``, an exit code 1 without
    stderr returns ``""`` (how ``rev-parse --verify --quiet`` says "no such
    revision"). A call running longer than ``timeout`` seconds is killed and
    raises "timed out after Ns": a hung git never freezes the loop.
    """
    import git

    command = [str(git.Git.GIT_PYTHON_GIT_EXECUTABLE), *argv]
    position = 0
    while position < len(argv) - 1 and argv[position] in ("-C", "-c"):
        position += 2
    cmd = f"git {argv[position]}"
    try:
        with tempfile.TemporaryFile() as feed:
            if stdin is not None:
                feed.write(stdin)
                feed.seek(0)
            out = git.Git().execute(
                command,
                env=dict(env) if env else None,
                kill_after_timeout=timeout,
                istream=feed if stdin is not None else None,
            )
    except git.GitCommandError as err:
        stderr = _stderr(err)
        if quiet_miss and err.status == 1 and not stderr:
            return ""
        if "did not complete in" in stderr:
            stderr = f"timed out after {timeout:g}s"
        raise DriverError(cmd, stderr or f"exit code {err.status}") from err
    except git.GitError as err:  # e.g. the git executable is missing
        raise DriverError(cmd, str(err)) from err
    return str(out)


def run_git(
    cwd: Path | str,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    stdin: bytes | None = None,
) -> str:
    """Run ``git -C cwd args...``; return stdout without its last newline.

    Raises
    ------
    DriverError
        ``"git <subcommand>: <stderr>"`` when git fails.
    """
    return _execute(["-C", str(cwd), *args], env, timeout=timeout, stdin=stdin)


def _verify(cwd: Path | str, rev: str) -> str | None:
    """``rev-parse --verify --quiet``: the object name, or None if ``rev`` does not resolve."""
    out = _execute(["-C", str(cwd), "rev-parse", "--verify", "--quiet", rev], quiet_miss=True)
    return out or None


def verify(cwd: Path | str, rev: str) -> str | None:
    """The object name ``rev`` resolves to in the repository at ``cwd``, or None."""
    return _verify(cwd, rev)


def count_range(cwd: Path | str, base: str, tip: str, timeout: float = DEFAULT_TIMEOUT) -> int:
    """How many commits ``base..tip`` holds in the repository at ``cwd``."""
    return int(run_git(cwd, "rev-list", "--count", f"{base}..{tip}", timeout=timeout) or 0)


def ahead_behind(
    cwd: Path | str, base: str, tip: str, timeout: float = DEFAULT_TIMEOUT
) -> tuple[int, int]:
    """Commits ``tip`` has that ``base`` lacks, and the reverse: one ``rev-list`` call."""
    out = run_git(cwd, "rev-list", "--left-right", "--count", f"{tip}...{base}", timeout=timeout)
    ahead, _, behind = out.partition("\t")
    return int(ahead or 0), int(behind or 0)


def init_repo(path: Path, branch: str = "main") -> None:
    """Create a git repository at ``path`` with one empty commit on ``branch``.

    Parameters
    ----------
    path : Path
        The folder; created with its parents if missing.
    branch : str
        The initial branch.
    """
    path.mkdir(parents=True, exist_ok=True)
    run_git(path, "init", "-q", "-b", branch)
    _execute(
        [
            "-C",
            str(path),
            "-c",
            "user.name=orch",
            "-c",
            "user.email=orch@localhost",
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "--no-verify",
            "--allow-empty",
            "-m",
            "orch: initial commit",
        ]
    )


def commit_on_head(
    cwd: Path, add_args: list[str], message: str, identity: Mapping[str, str]
) -> tuple[str, str] | None:
    """Commit ``git add <add_args>`` of the working tree on top of HEAD, in a temporary index.

    Neither the files nor the real index change; no ref moves (the caller
    decides where the commit goes). Returns (HEAD, new commit), or None when the
    resulting tree equals HEAD's.
    """
    head = _verify(cwd, "HEAD^{commit}")
    if head is None:
        raise DriverError("git commit-tree", f"{cwd}: no HEAD commit")
    with tempfile.TemporaryDirectory(prefix="orch-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        run_git(cwd, "read-tree", head, env=env)
        run_git(cwd, "add", *add_args, env=env)
        tree = run_git(cwd, "write-tree", env=env)
    if tree == run_git(cwd, "rev-parse", f"{head}^{{tree}}"):
        return None
    sha = run_git(
        cwd, "commit-tree", "--no-gpg-sign", tree, "-p", head, "-m", message, env=identity
    )  # fmt: skip
    return head, sha


class Git:
    """A git repository (the main worktree) and the worktrees made from it.

    Parameters
    ----------
    repo : str or Path
        The repository's top folder (or a bare repository).

    Raises
    ------
    DriverError
        If ``repo`` is not a git repository.
    """

    def __init__(self, repo: str | Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        import git

        self.timeout = timeout
        try:
            handle = git.Repo(str(repo))
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as err:
            cmd = f"git -C {repo}"
            raise DriverError(cmd, "not a git repository") from err
        self.path = Path(handle.working_tree_dir or handle.git_dir)
        handle.close()

    def _git(
        self, *args: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None
    ) -> str:
        return run_git(self.path, *args, env=env, timeout=self.timeout, stdin=stdin)

    def worktree_list(self) -> str:
        """The raw output of ``git worktree list --porcelain``."""
        return self._git("worktree", "list", "--porcelain")

    def rev_parse(self, rev: str) -> str | None:
        """The object name ``rev`` resolves to, or None if it does not resolve."""
        return _verify(self.path, rev)

    def branch_exists(self, branch: str) -> bool:
        """True if ``refs/heads/<branch>`` exists."""
        return _verify(self.path, f"refs/heads/{branch}") is not None

    def worktree_add(self, path: Path, branch: str, base: str, owner: str) -> bool:
        """Add a worktree at ``path`` on ``branch``; True when the branch was made here.

        A missing branch is created from ``base`` and marked as ``owner``'s
        (:meth:`create_branches`); an existing one is checked out as it is.
        """
        created = not self.branch_exists(branch)
        if created:
            self.create_branches({branch: base}, owner)
        self.checkout_worktree(path, branch)
        return created

    def checkout_worktree(self, path: Path, branch: str) -> None:
        """``git worktree add path branch`` (an existing branch); parent folders are made."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._git("worktree", "add", "--quiet", str(path), branch)

    def resolve(self, revs: list[str]) -> dict[str, str | None]:
        """The commit each of ``revs`` names, or None, in one call (``cat-file --batch-check``)."""
        feed = "".join(f"{rev}^{{commit}}\n" for rev in revs).encode()
        out = self._git("cat-file", "--batch-check=%(objectname)", stdin=feed).splitlines()
        return {rev: (line if " missing" not in line and line else None)
                for rev, line in zip(revs, out, strict=False)}  # fmt: skip

    def create_branches(self, branches: Mapping[str, str], owner: str) -> None:
        """Create each branch at its base, marked as ``owner``'s, in one transaction.

        The mark is a ref ``refs/orch/owned/<owner>/<branch>`` made in the same
        atomic ``update-ref --stdin``: a branch orch creates is never left
        unmarked, whatever happens next. Raises DriverError naming a base that
        does not resolve.
        """
        bases = self.resolve(sorted(set(branches.values())))
        lines = ["start"]
        for branch, base in sorted(branches.items()):
            oid = bases.get(base)
            if oid is None:
                raise DriverError("git worktree", f"fatal: not a valid object name: '{base}'")
            lines += [f"create refs/heads/{branch} {oid}", f"create {OWNED}{owner}/{branch} {oid}"]
        lines.append("commit")
        self._git("update-ref", "--stdin", stdin=("\n".join(lines) + "\n").encode())

    def move_branch(self, worktree: Path, rev: str) -> None:
        """Point the worktree's branch at ``rev``, keeping local changes (``reset --keep``)."""
        run_git(worktree, "reset", "--quiet", "--keep", rev, timeout=self.timeout)

    def worktree_unlock(self, path: Path) -> None:
        """Lift the lock on the worktree at ``path`` (a lock keeps prune and remove off it)."""
        with contextlib.suppress(DriverError):  # not locked, or not registered: nothing to lift
            self._git("worktree", "unlock", str(path))

    def worktree_prune(self) -> None:
        """Forget worktrees whose folder is gone (deleted by hand), so they can be made again."""
        self._git("worktree", "prune")

    def branch_facts(self) -> tuple[set[str], dict[str, str]]:
        """Every local branch, and the fleet that created each one orch made (one call)."""
        out = self._git("for-each-ref", "--format=%(refname)", "refs/heads/", OWNED)
        names, owners = set(), {}
        for ref in out.splitlines():
            if ref.startswith("refs/heads/"):
                names.add(ref.removeprefix("refs/heads/"))
            else:
                fleet, _, branch = ref.removeprefix(OWNED).partition("/")
                owners[branch] = fleet
        return names, owners

    def branch_owner(self, branch: str) -> str | None:
        """The fleet that created ``branch`` (a ``refs/orch/owned/<fleet>/<branch>``), or None."""
        return self.branch_facts()[1].get(branch)

    def checked_out_at(self, branch: str) -> str | None:
        """The worktree that has ``branch`` checked out, or None."""
        path = None
        for line in self.worktree_list().splitlines():
            key, _, value = line.partition(" ")
            if key == "worktree":
                path = value
            elif key == "branch" and value == f"refs/heads/{branch}":
                return path
        return None

    def ensure_exclude(self, pattern: str = ".orch/") -> None:
        """Add ``pattern`` as a line of ``<common git dir>/info/exclude`` unless it is one."""
        common = self.path / self._git("rev-parse", "--git-common-dir")
        exclude = common / "info" / "exclude"
        text = exclude.read_text() if exclude.exists() else ""
        if pattern in (line.strip() for line in text.splitlines()):
            return
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as handle:
            handle.write(("" if not text or text.endswith("\n") else "\n") + pattern + "\n")

    def worktree_remove(self, path: Path) -> None:
        """Remove the worktree at ``path`` (forced: save its work first), then prune.

        A path that is no longer a worktree is no error.
        """
        try:
            self._git("worktree", "remove", "--force", str(path))
        except DriverError:
            self._git("worktree", "prune")
            if self._is_worktree(path):
                raise
        else:
            self._git("worktree", "prune")

    def _is_worktree(self, path: Path) -> bool:
        wanted = path.resolve()
        return any(
            Path(line[len("worktree ") :]).resolve() == wanted
            for line in self.worktree_list().splitlines()
            if line.startswith("worktree ")
        )

    def head(self, worktree: Path) -> str | None:
        """The commit checked out in ``worktree``, or None before the first commit."""
        return _verify(worktree, "HEAD^{commit}")

    def log_oneline(self, worktree: Path, base: str, limit: int) -> str:
        """``git log --oneline`` of ``base..HEAD`` in ``worktree``, at most ``limit`` commits."""
        revs = f"{base}..HEAD"
        return run_git(worktree, "log", "--oneline", "--no-decorate", "-n", str(limit), revs)

    def count_commits(self, worktree: Path, base: str) -> int:
        """How many commits ``base..HEAD`` holds in ``worktree``."""
        return int(run_git(worktree, "rev-list", "--count", f"{base}..HEAD") or 0)

    def diff_stat(self, worktree: Path) -> str:
        """``git diff --stat HEAD``: tracked changes, staged or not, in ``worktree``."""
        return run_git(worktree, "diff", "--stat", "HEAD")

    def untracked(self, worktree: Path, limit: int) -> tuple[list[str], int]:
        """The first ``limit`` untracked, not ignored, file names and their total count."""
        out = run_git(worktree, "ls-files", "-z", "--others", "--exclude-standard")
        names = [name for name in out.split("\0") if name]
        return names[:limit], len(names)

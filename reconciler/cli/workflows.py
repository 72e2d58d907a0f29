"""`orch run WORKFLOW REPO...` and `orch test REPO...`: a Repo's workflow commands, watched."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from reconciler.cli.runner import CTX, emit_json, run
from reconciler.cli.table import table
from reconciler.core.errors import UsageError

if TYPE_CHECKING:
    from reconciler.core.workflows import WorkflowOptions
    from reconciler.loop.workflows import WorkflowReport

commands = typer.Typer()
T = TypeVar("T")

_NOTES = """\
The command is the Repo's spec.workflows entry, a jinja2 template over repo,
workflow, path, branch, default_branch, worker and vars (a worker's vars, and
--var). It runs with /bin/sh in the repo (or with --worker in that worker's
worktree), in a process group of its own. No output for --stall, or longer
than --timeout: the group is killed and the attempt retried, --retries times.
Output is streamed as "target | line" and kept in state/runs/<time>-<workflow>/.
Exit code 1 when a run did not pass."""

ReposArg = Annotated[list[str] | None, typer.Argument(help="Repos to run in.", show_default=False)]
AllOpt = Annotated[bool, typer.Option("--all", help="Every Repo that has the workflow.")]
WorkerOpt = Annotated[
    list[str] | None,
    typer.Option("--worker", "-w", help="Run in this worker's worktree (repeatable).",
                 show_default=False),
]  # fmt: skip
JobsOpt = Annotated[int, typer.Option("-j", "--jobs", min=1, help="Targets run at once.")]
StallOpt = Annotated[
    str, typer.Option("--stall", metavar="DURATION", help="Kill after this long without output.")
]
TimeoutOpt = Annotated[
    str, typer.Option("--timeout", metavar="DURATION", help="Kill after this long in all.")
]
RetriesOpt = Annotated[
    int, typer.Option("--retries", min=0, help="Tries again after a stall or timeout.")
]
VarOpt = Annotated[
    list[str] | None,
    typer.Option("--var", metavar="KEY=VALUE", help="A template var (repeatable).",
                 show_default=False),
]  # fmt: skip
JsonSummary = Annotated[
    bool, typer.Option("--json", help="Print the summary as JSON (output goes to stderr).")
]


@commands.command(
    name="run",
    epilog=f"""\
Examples:

\b
  orch run build app                   the Repo app's workflows.build, in its folder
  orch run test --all -j 4             every Repo with a test workflow, 4 at a time
  orch run lint -w fix-parser          in the worktree of worker fix-parser
  orch run test app --stall 2m --timeout 30m --retries 2

{_NOTES}""",
)
def run_workflow(
    workflow: Annotated[str, typer.Argument(help="The workflow's name (a key of spec.workflows).")],
    repos: ReposArg = None,
    all_repos: AllOpt = False,
    worker: WorkerOpt = None,
    jobs: JobsOpt = 1,
    stall: StallOpt = "10m",
    timeout: TimeoutOpt = "1h",
    retries: RetriesOpt = 1,
    var: VarOpt = None,
    as_json: JsonSummary = False,
) -> None:
    """Run a Repo's workflow command in repos or workers' worktrees, watched; then a summary."""
    _go(workflow, repos, all_repos, worker, (jobs, stall, timeout, retries, var), as_json)


@commands.command(
    name="test",
    epilog=f"""\
Examples:

\b
  orch test app                        the Repo app's workflows.test
  orch test --all -j 3                 every Repo with a test workflow

{_NOTES}""",
)
def run_test_workflow(
    repos: ReposArg = None,
    all_repos: AllOpt = False,
    worker: WorkerOpt = None,
    jobs: JobsOpt = 1,
    stall: StallOpt = "10m",
    timeout: TimeoutOpt = "1h",
    retries: RetriesOpt = 1,
    var: VarOpt = None,
    as_json: JsonSummary = False,
) -> None:
    """Run the test workflow: the same as `orch run test`."""
    _go("test", repos, all_repos, worker, (jobs, stall, timeout, retries, var), as_json)


def _go(
    workflow: str,
    repos: list[str] | None,
    all_repos: bool,
    workers: list[str] | None,
    knobs: tuple[int, str, str, int, list[str] | None],
    as_json: bool,
) -> None:
    from reconciler.loop.repos import load_specs
    from reconciler.loop.workflows import run_workflows

    lock = threading.Lock()
    out = sys.stderr if as_json else sys.stdout
    width = [0]

    def show(target: str, line: str) -> None:
        with lock:
            out.write(f"{target.ljust(width[0])} | {line}\n")
            out.flush()

    def go() -> WorkflowReport:
        options = _options(*knobs)
        desired = load_specs(CTX.root)
        width[0] = max(map(len, workers or repos or desired.repos or [""]))
        return run_workflows(desired, workflow, repos or (), all_repos=all_repos,
                             workers=workers or (), options=options, on_line=show)  # fmt: skip

    report = run(lambda: _interruptible(go), json_errors=as_json)
    if as_json:
        emit_json(report.to_json())
    else:
        _summary(report)
    if not report.ok:
        raise typer.Exit(1)


def _interruptible(fn: Callable[[], T]) -> T:
    """``fn()``, with SIGINT, SIGTERM and SIGHUP raising KeyboardInterrupt.

    The commands run in sessions of their own, out of reach of the terminal's
    signals: on any of these, the run kills them before orch exits. SIGINT is
    set too because a shell without job control starts background jobs with it
    ignored, and `kill -INT` must still end a run.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    saved = {sig: signal.signal(sig, interrupt) for sig in stops}
    try:
        return fn()
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def _options(
    jobs: int, stall: str, timeout: str, retries: int, var: list[str] | None
) -> WorkflowOptions:
    from reconciler.core.duration import parse_duration
    from reconciler.core.workflows import WorkflowOptions

    try:
        stall_s, timeout_s = parse_duration(stall), parse_duration(timeout)
    except ValueError as err:
        raise UsageError(str(err)) from None
    pairs = [item.partition("=") for item in var or ()]
    bad = [key for key, eq, _ in pairs if not eq or not key]
    if bad:
        msg = f"--var wants KEY=VALUE, got {bad[0]!r}"
        raise UsageError(msg)
    return WorkflowOptions(stall_s, timeout_s, retries, jobs, {k: v for k, _, v in pairs})


def _summary(report: WorkflowReport) -> None:
    rows = [[r.target, r.result, _seconds(r.duration), len(r.attempts), r.log or r.error]
            for r in report.runs]  # fmt: skip
    typer.echo("")
    typer.echo(table(["TARGET", "RESULT", "DURATION", "ATTEMPTS", "LOG"], rows))
    if report.skipped:
        typer.echo(f'skipped (no workflow "{report.workflow}"): {", ".join(report.skipped)}')
    passed = sum(r.ok for r in report.runs)
    typer.echo(f"{passed} of {len(report.runs)} passed; runs in {report.folder}")


def _seconds(value: float) -> str:
    """``"4.2s"``, ``"3m07s"``."""
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes}m{seconds:02d}s"

"""Prompt and report templates checked when the specs load: a mistake is the template's file:line.

Each template is compiled in the environment that renders it at run time
(:mod:`reconciler.core.agent_command` for prompts, :mod:`reconciler.core.report`
for the report). Every name it uses must be one the run-time context holds:
the known names come from the very functions that build that context, called
with sample values, so this check cannot drift from what a start renders.
Then each stage prompt and restart prompt is rendered for every worker that
runs it, with that worker's own ``vars``, as its start would render it; one
mistake shared by many workers is one error naming them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.core import agent_command as prompts
from reconciler.core.errors import SpecError
from reconciler.core.model import Desired, Pipeline, RestartPolicy, Source, Stage, Worker
from reconciler.data import REPORT_TEMPLATE, RESTART_TEMPLATE, packaged
from reconciler.spec.collapse import listed
from reconciler.spec.paths import file_problem

_SAMPLE = Worker(
    name="sample", repo="sample", pipeline="sample", agent="sample", branch="orch/sample",
    base="main", vars={}, restart_policy=RestartPolicy(), suspend=False, depends_on=(),
    host=None, labels={}, source=Source("", 0, 0),
)  # fmt: skip


def sample_context(desired: Desired) -> dict[str, Any]:
    """A stage prompt's context for a sample worker: the names every prompt can use."""
    stage = Stage("sample", "sample.md.j2", 1.0, 1.0, "signal")
    sample = replace(desired, pipelines={"sample": Pipeline("sample", (stage,), _SAMPLE.source)})
    return prompt_context(sample, _SAMPLE, stage)


def prompt_names(desired: Desired) -> frozenset[str]:
    """The names a stage prompt can use, from the function that builds its context."""
    return frozenset(sample_context(desired))


def restart_names(desired: Desired) -> frozenset[str]:
    """The names a restart prompt can use: a stage prompt's and what the last attempt left."""
    return frozenset(prompts.restart_context(sample_context(desired), "", "", ""))


def report_names() -> frozenset[str]:
    """The names a report template can use."""
    from reconciler.core import report  # only a control repo with its own report template

    return frozenset(report.report_context(report.sample_input()))


def prompt_context(desired: Desired, worker: Worker, stage: Stage) -> dict[str, Any]:
    """What a first attempt of ``stage`` renders its prompt over, for ``worker``."""
    return prompts.prompt_context(desired, worker, stage, 1, desired.worktree_path(worker))


def restart_template(root: Path, stage: Stage) -> str | None:
    """The restart prompt file a stage uses in the control repo, or None (orch's own)."""
    rel = stage.restart_prompt or RESTART_TEMPLATE
    return rel if stage.restart_prompt or (root / rel).is_file() else None


class _Checker:
    """Reads each template once, checks it once, renders it for each worker."""

    def __init__(self, desired: Desired) -> None:
        self.desired = desired
        self.errors: list[SpecError] = []
        self.texts: dict[str, str | None] = {}  # None: unusable, already reported
        self.renders: dict[tuple[str, int, str, str], list[str]] = {}

    def text(
        self, rel: str, obj: str | None, names: frozenset[str], hint: Iterable[str], env: Any
    ) -> str | None:
        """The template's text when it compiles and uses only ``names``; else None (reported)."""
        if rel in self.texts:
            return self.texts[rel]
        self.texts[rel] = None
        if file_problem(self.desired.root, rel, "template"):
            return None  # a missing file is the spec's error (checks.check_pipelines)
        try:
            text = (self.desired.root / rel).read_text()
        except (OSError, UnicodeDecodeError) as err:
            self.errors.append(SpecError(rel, 1, 1, obj, f"cannot read template: {err}"))
            return None
        problem = static_problem(text, names, hint, env=env)
        if problem:
            line, message = problem
            self.errors.append(SpecError(rel, line, 1, obj, message))
            return None
        self.texts[rel] = text
        return text

    def render(self, rel: str, text: str, ctx: dict[str, Any], where: tuple[str, str]) -> str:
        """``text`` rendered over ``ctx``; a failure is kept, grouped by place and message.

        ``where``: the Pipeline's label and the stage's name.
        """
        try:
            return prompts.render(text, ctx)
        except Exception as err:  # noqa: BLE001 - jinja2 and the sandbox raise many kinds
            line = template_line(err.__traceback__)
            message = f"stage {where[1]}: {str(err) or type(err).__name__}"
            self.renders.setdefault((rel, line, where[0], message), []).append(ctx["worker"])
            return ""

    def rendered_errors(self) -> list[SpecError]:
        """One error a place and message, naming the workers it fails for."""
        return [
            SpecError(rel, line, 1, obj, f"{message} ({_for_workers(workers)})")
            for (rel, line, obj, message), workers in self.renders.items()
        ]


def _for_workers(names: list[str]) -> str:
    """``for worker a`` or ``for workers a, b``."""
    return f"for worker{'s' if len(names) > 1 else ''} {listed(names)}"


def static_problem(
    text: str, names: frozenset[str], hint: Iterable[str] = (), *, env: Any = None
) -> tuple[int, str] | None:
    """(line, message) of a syntax error or of the first unknown name in ``text``, or None.

    ``hint``: names a user may have meant with a prefix (keys of ``vars``).

    Examples
    --------
    >>> static_problem("a\\nb\\n{{ x + }}", frozenset({"x"}))[0]
    3
    >>> static_problem("{{ worker }}\\n{{ topic }}", frozenset({"worker"}), ["topic"])
    (2, 'unknown variable "topic"; did you mean "vars.topic"?')
    >>> static_problem("{% for s in stages %}{{ s }}{% endfor %}", frozenset({"stages"}))
    """
    from jinja2 import TemplateSyntaxError, meta, nodes

    env = env or prompts.environment()
    try:
        ast = env.parse(text)
    except TemplateSyntaxError as err:
        return err.lineno, f"template syntax error: {err.message}"
    unknown = meta.find_undeclared_variables(ast) - names - set(env.globals)
    if not unknown:
        return None
    found = [(n.lineno, n.name) for n in ast.find_all(nodes.Name) if n.name in unknown]
    line, name = min(found)
    return line, f'unknown variable "{name}"{_suggest(name, names, hint)}'


def _suggest(name: str, names: frozenset[str], hint: Iterable[str]) -> str:
    if name in set(hint):
        return f'; did you mean "vars.{name}"?'
    close = difflib.get_close_matches(name, sorted(names), n=1)
    if close:
        return f'; did you mean "{close[0]}"?'
    return f" (known: {', '.join(sorted(n for n in names if n.islower() and n[0] != '_'))})"


def template_line(tb: TracebackType | None) -> int:
    """The template line a render error came from (jinja2 puts it in the traceback)."""
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _own_copy(root: Path, rel: str, default: str) -> bool:
    """Whether ``rel`` in the control repo is orch's own ``default`` template, unchanged.

    `orch init` copies orch's templates; orch's tests check those, so a load
    need not (and then imports no report code).
    """
    try:
        return (root / rel).read_text() == packaged(default)
    except (OSError, UnicodeDecodeError):
        return False


def check_templates(desired: Desired) -> list[SpecError]:
    """Every problem of the prompt and report templates the specs use."""
    check = _Checker(desired)
    env = prompts.environment()
    var_keys = sorted({str(k) for w in desired.workers.values() for k in w.vars})
    names, restart_names_ = prompt_names(desired), restart_names(desired)
    for pipe in desired.pipelines.values():
        obj = f"Pipeline/{pipe.name}"
        users = [w for w in desired.workers.values() if w.pipeline == pipe.name]
        for stage in pipe.stages:
            prompt = check.text(stage.prompt, obj, names, var_keys, env)
            restart_rel = restart_template(desired.root, stage)
            restart = None
            if restart_rel and not _own_copy(desired.root, restart_rel, RESTART_TEMPLATE):
                restart = check.text(restart_rel, obj, restart_names_, var_keys, env)
            for w in users:
                ctx = prompt_context(desired, w, stage)
                rendered = ""
                if prompt is not None:
                    rendered = check.render(stage.prompt, prompt, ctx, (obj, stage.name))
                if restart is not None and restart_rel:
                    full = prompts.restart_context(ctx, "(summary)", rendered, "(reason)")
                    check.render(restart_rel, restart, full, (obj, stage.name))
    report_file = desired.root / REPORT_TEMPLATE
    if report_file.is_file() and not _own_copy(desired.root, REPORT_TEMPLATE, REPORT_TEMPLATE):
        from reconciler.core import report

        check.text(REPORT_TEMPLATE, "report template", report_names(), (), report.environment())
    return check.errors + check.rendered_errors()

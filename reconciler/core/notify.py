"""Which phase changes a person is told about, and the command that tells them (pure).

``notify.command`` (config/orch.yaml) is an argv template. After each pass
the watcher compares the phases with the ones it saw last (kept in
state/notify.json): a worker that entered one of :data:`NOTIFY_PHASES` is
one notice, and so is the fleet becoming settled (every worker final, see
:mod:`reconciler.core.outcome`). A phase seen before is not told again, so a
restarted watcher stays quiet about what it already told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.core.actions import Phase
from reconciler.core.agent_command import render
from reconciler.core.outcome import settled

# Phase changes a person hears about.
NOTIFY_PHASES: frozenset[str] = frozenset(
    {Phase.NEEDS_INPUT.value, Phase.LIMITED.value, Phase.FAILED.value, Phase.SUCCEEDED.value}
)
SETTLED = "Settled"  # the phase of the fleet's own notice (its worker is "")
NAMES: frozenset[str] = frozenset({"worker", "phase", "reason", "fleet"})  # the template's names


@dataclass(frozen=True)
class Notice:
    """One thing to tell: ``worker`` ("" for the fleet) entered ``phase`` because of ``reason``."""

    worker: str
    phase: str
    reason: str


def notices(old: Mapping[str, str] | None, new: Mapping[str, tuple[str, str]]) -> list[Notice]:
    """What changed from ``old`` (worker -> phase) to ``new`` (worker -> (phase, reason)).

    ``old`` None (nothing remembered yet) is no change: a watcher started on a
    fleet that failed long ago has nothing to tell.

    Examples
    --------
    >>> notices({"a": "Running", "b": "Failed", "c": "Running"},
    ...         {"a": ("Failed", "crashed"), "b": ("Failed", "x"), "c": ("Running", "")})
    [Notice(worker='a', phase='Failed', reason='crashed')]
    >>> [n.phase for n in notices({"a": "Running"}, {"a": ("Succeeded", "all stages done")})]
    ['Succeeded', 'Settled']
    >>> notices(None, {"a": ("Failed", "crashed")}), notices({}, {"a": ("Running", "")})
    ([], [])
    """
    if old is None:
        return []
    out = [
        Notice(name, phase, reason)
        for name, (phase, reason) in sorted(new.items())
        if phase in NOTIFY_PHASES and old.get(name) != phase
    ]
    phases = {name: phase for name, (phase, _) in new.items()}
    if settled(phases) and not settled(old):
        out.append(Notice("", SETTLED, settled_reason(phases)))
    return out


def settled_reason(phases: Mapping[str, str]) -> str:
    """How the fleet ended: ``2 Succeeded, 1 Failed``.

    Examples
    --------
    >>> settled_reason({"a": "Succeeded", "b": "Failed", "c": "Succeeded"})
    '2 Succeeded, 1 Failed'
    >>> settled_reason({"a": "Succeeded", "b": "Failed"})
    '1 Failed, 1 Succeeded'
    """
    counts: dict[str, int] = {}
    for phase in phases.values():
        counts[phase] = counts.get(phase, 0) + 1
    return ", ".join(
        f"{n} {phase}" for phase, n in sorted(counts.items(), key=lambda i: (-i[1], i[0]))
    )


def context(notice: Notice, fleet: str) -> dict[str, str]:
    """The names ``notify.command`` renders over."""
    return {"worker": notice.worker, "phase": notice.phase, "reason": notice.reason, "fleet": fleet}


def command(template: tuple[str, ...], notice: Notice, fleet: str) -> list[str]:
    """``notify.command`` rendered for ``notice`` (jinja2's sandbox; raises on a bad template).

    Examples
    --------
    >>> command(("notify-send", "orch {{ fleet }}", "{{ worker }} {{ phase }}"),
    ...         Notice("w1", "Failed", "crashed"), "demo")
    ['notify-send', 'orch demo', 'w1 Failed']
    """
    ctx = context(notice, fleet)
    return [render(part, ctx) for part in template]


def env(notice: Notice, fleet: str) -> dict[str, str]:
    """What the command finds in its environment besides the watcher's own.

    Examples
    --------
    >>> env(Notice("", "Settled", "1 Succeeded"), "demo")["ORCH_PHASE"]
    'Settled'
    """
    return {f"ORCH_{key.upper()}": value for key, value in context(notice, fleet).items()}

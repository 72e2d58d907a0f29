"""Built-in agent profiles: common coding agents need no Agent document (pure).

``claude`` runs Claude Code headless (``-p --output-format stream-json
--verbose``) with orch's hooks (``--settings``), resumes by session id, and
takes its permissions from ``permissionMode``: ``bypassPermissions`` by
default, since a headless worker cannot answer a permission prompt
(``acceptEdits`` with ``allowedTools`` is the stricter choice). ``codex``
runs ``codex exec`` and resumes by its session id; ``aider`` gets the prompt
with ``--message-file`` and ``--yes``; ``shell`` runs the prompt file with bash
(for scripted stages). ``mode: interactive`` runs the claude TUI in the
worker's window instead (no ``-p``; the prompt is its initial prompt). An
Agent document of the same name overrides a profile; an Agent document with
``profile: claude`` and options makes a variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core.model import Agent, Source

PROFILES = ("claude", "codex", "aider", "shell")
PERMISSION_MODES = ("bypassPermissions", "acceptEdits", "default", "plan")
BUILTIN_SOURCE = Source("(built-in profile)", 0, 0)
# stream-json lines that are not progress: API retries, hook bookkeeping.
CLAUDE_QUIET = (
    '"subtype":"api_retry"',
    '"subtype":"hook_started"',
    '"subtype":"hook_response"',
    '"subtype":"notification"',
    '"type":"rate_limit_event"',
)


def _claude_flags(options: Mapping[str, Any]) -> list[str]:
    mode = str(options.get("permissionMode", "bypassPermissions"))
    flags = ["--settings", "{{ settings_file }}"]
    if not _interactive(options):
        flags = ["--output-format", "stream-json", "--verbose", *flags]
    if mode == "bypassPermissions":
        flags.append("--dangerously-skip-permissions")
    else:
        flags += ["--permission-mode", mode]
    if options.get("model"):
        flags += ["--model", str(options["model"])]
    flags += [str(a) for a in options.get("args", ())]
    tools = [str(t) for t in options.get("allowedTools", ())]
    if tools:  # one `--opt=value` argument: the CLI's option is variadic and would swallow more
        flags.append("--allowedTools=" + ",".join(tools))
    return flags


def _interactive(options: Mapping[str, Any]) -> bool:
    return options.get("mode") == "interactive" or bool(options.get("interactive"))


def interactive_claude(command: Sequence[str]) -> list[str]:
    """A headless claude argv as the interactive TUI takes it: no ``-p``, no stream-json.

    Examples
    --------
    >>> interactive_claude(["claude", "-p", "--output-format", "stream-json", "--verbose",
    ...                     "--settings", "s.json", "--dangerously-skip-permissions"])
    ['claude', '--settings', 's.json', '--dangerously-skip-permissions']
    """
    out: list[str] = []
    skip = False
    for arg in command:
        if skip:
            skip = False
        elif arg == "--output-format":
            skip = True
        elif arg not in ("-p", "--print", "--verbose"):
            out.append(arg)
    return out


def _argv(name: str, options: Mapping[str, Any]) -> tuple[list[str], list[str] | None, str | None]:
    """(command, resume, sessionIdFrom) of profile ``name`` with ``options``."""
    extra = [str(a) for a in options.get("args", ())]
    if name == "claude" and _interactive(options):  # the prompt comes last (agent_command)
        flags = _claude_flags(options)
        resume = ["claude", "--resume", "{{ session_id }}", *flags, "--"]
        return ["claude", *flags, "--"], resume, "claude-stream-json"
    if name == "claude":
        flags = _claude_flags(options)
        return (
            ["claude", "-p", *flags],
            ["claude", "-p", "--resume", "{{ session_id }}", *flags],
            ("claude-stream-json"),
        )
    if name == "codex":
        base = ["codex", "exec", "--full-auto", "--skip-git-repo-check", *extra]
        return (
            [*base, "-"],
            [*base[:2], "resume", "{{ session_id }}", *base[2:], "-"],
            (r"regex:session id: ([0-9a-fA-F-]{8,})"),
        )
    if name == "aider":
        return (
            ["aider", "--yes", "--no-pretty", *extra, "--message-file", "{{ prompt_file }}"],
            (None),
            None,
        )
    return ["bash", "{{ prompt_file }}", *extra], None, None


def profile_agent(
    name: str,
    profile: str,
    options: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    source: Source = BUILTIN_SOURCE,
    quiet: Sequence[str] = (),
) -> Agent:
    """The Agent that profile ``profile`` makes, under ``name``, with ``options``.

    Examples
    --------
    >>> a = profile_agent("claude", "claude")
    >>> a.command[:4], "--dangerously-skip-permissions" in a.command
    (('claude', '-p', '--output-format', 'stream-json'), True)
    >>> profile_agent("strict", "claude", {"permissionMode": "acceptEdits",
    ...     "allowedTools": ["Bash", "Edit"]}).command[-3:]
    ('--permission-mode', 'acceptEdits', '--allowedTools=Bash,Edit')
    >>> profile_agent("s", "shell").command
    ('bash', '{{ prompt_file }}')
    >>> profile_agent("i", "claude", {"mode": "interactive"}).command[:3]
    ('claude', '--settings', '{{ settings_file }}')
    """
    opts = options or {}
    command, resume, session_from = _argv(profile, opts)
    base_quiet = CLAUDE_QUIET if profile == "claude" else ()
    return Agent(
        name=name,
        command=tuple(command),
        resume=tuple(resume) if resume else None,
        env=dict(env or {}),
        quiet_patterns=(*base_quiet, *quiet),
        session_id_from=session_from,
        source=source,
        profile=profile,
        builtin=source is BUILTIN_SOURCE,
        stop_nudges=int(opts.get("stopNudges", 2)),
        staggered=profile in ("claude", "codex", "aider"),
        interactive=_interactive(opts),
        claude_config_dir=opts.get("claudeConfigDir"),
    )


def builtin_agents() -> dict[str, Agent]:
    """Every profile as an Agent of its own name (what ``agent: claude`` means)."""
    return {name: profile_agent(name, name) for name in PROFILES}

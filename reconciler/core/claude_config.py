"""Claude Code's first-run screens, pre-answered in its config files (pure).

An interactive claude stops at screens of its own before it works: onboarding,
"use this API key?", "do you trust this folder?", the bypass-permissions
warning. Each has a key in the CLI's config (``.claude.json``) or settings:

- in the user's own config, orch adds only the trust entry of the folder that
  holds the worktrees (trusting a folder covers everything below it);
- a config folder of orch's own (``claudeConfigDir``) is filled completely:
  onboarding done, the API key approved, the folder trusted;
- the bypass warning is skipped by orch's own ``--settings`` file
  (``skipDangerousModePermissionPrompt``), never in the user's files.

Every other key is kept as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SKIP_BYPASS_PROMPT = {"skipDangerousModePermissionPrompt": True}
KEY_SUFFIX = 20  # the CLI approves an API key by its last 20 characters


def with_trust(config: Mapping[str, Any], folder: str) -> dict[str, Any]:
    """``config`` with ``folder`` trusted; every other key (and project) kept.

    Examples
    --------
    >>> c = with_trust({"oauthAccount": {"x": 1}, "projects": {"/a": {"k": 2}}}, "/w")
    >>> c["oauthAccount"], c["projects"]["/a"], c["projects"]["/w"]
    ({'x': 1}, {'k': 2}, {'hasTrustDialogAccepted': True})
    """
    out = dict(config)
    projects = out.get("projects")
    projects = dict(projects) if isinstance(projects, Mapping) else {}
    entry = projects.get(folder)
    projects[folder] = {**(entry if isinstance(entry, Mapping) else {}),
                        "hasTrustDialogAccepted": True}  # fmt: skip
    out["projects"] = projects
    return out


def filled(config: Mapping[str, Any], folder: str, api_key: str | None) -> dict[str, Any]:
    """An orch-owned config: onboarding done, ``api_key`` approved, ``folder`` trusted.

    Examples
    --------
    >>> c = filled({}, "/w", "sk-test-0123456789abcdefghij")
    >>> c["hasCompletedOnboarding"], c["customApiKeyResponses"]["approved"]
    (True, ['0123456789abcdefghij'])
    >>> filled(c, "/w", "sk-test-0123456789abcdefghij")["customApiKeyResponses"]["approved"]
    ['0123456789abcdefghij']
    """
    out = with_trust(config, folder)
    out["hasCompletedOnboarding"] = True
    if api_key:
        answers = out.get("customApiKeyResponses")
        answers = dict(answers) if isinstance(answers, Mapping) else {}
        approved = [str(k) for k in answers.get("approved", []) if isinstance(k, str)]
        if api_key[-KEY_SUFFIX:] not in approved:
            approved.append(api_key[-KEY_SUFFIX:])
        answers["approved"] = approved
        answers.setdefault("rejected", [])
        out["customApiKeyResponses"] = answers
    return out


def needs_change(config: Mapping[str, Any], folder: str) -> bool:
    """Whether ``folder`` is not trusted in ``config`` yet (the file is left alone if it is)."""
    projects = config.get("projects")
    entry = projects.get(folder) if isinstance(projects, Mapping) else None
    return not (isinstance(entry, Mapping) and entry.get("hasTrustDialogAccepted") is True)


# A screen waits for a person when it shows a menu or a key to press.
_MENU_MARKS = ("Enter to confirm", "Press Enter", "\u276f 1.", "> 1.", "Esc to cancel", "(y/n)")
_FRAME = "│╭╮╰╯─═║╔╗╚╝┌┐└┘├┤┬┴┼\u276f>*✻●⎿ \t"


def unexpected_screen(screen: str) -> str | None:
    """The first meaningful line of a screen that waits for a person, else None.

    A line with a question mark is preferred (the question itself); frames,
    logos and empty lines are skipped.

    Examples
    --------
    >>> unexpected_screen("╭──╮\\n│ Accessing workspace: │\\n│ Do you trust the files in this "
    ...                   "folder? │\\n│ > 1. Yes, proceed │\\n Enter to confirm · Esc to cancel")
    'Do you trust the files in this folder?'
    >>> unexpected_screen("> \\n  ⏵⏵ bypass permissions on") is None
    True
    """
    if not any(mark in screen for mark in _MENU_MARKS):
        return None
    lines = [line.strip(_FRAME) for line in screen.splitlines()]
    meaningful = [line for line in lines if sum(c.isalpha() for c in line) >= 3]
    asked = [line for line in meaningful if "?" in line]
    found = (asked or meaningful or ["a screen waits for input"])[0]
    return found[:300]

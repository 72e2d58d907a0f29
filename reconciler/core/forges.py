"""The hosting services' CLIs as data: which one, its argv, what its output says (pure).

GitHub through ``gh``, GitLab through ``glab``; orch runs whichever fits the
remote's host (or the one installed) and reads its JSON or the URL it prints.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection

CLIS = ("gh", "glab")
_URL = re.compile(r"https?://\S+")


def forge_for(remote_url: str, present: Collection[str]) -> str | None:
    """The CLI for ``remote_url``: by its host when it names one, else the one on PATH.

    Examples
    --------
    >>> forge_for("git@gitlab.example.com:o/r.git", {"gh", "glab"})
    'glab'
    >>> forge_for("https://github.com/o/r", {"gh"}), forge_for("/srv/r.git", {"glab"})
    ('gh', 'glab')
    >>> forge_for("https://github.com/o/r", set()) is None
    True
    """
    host = remote_url.lower()
    if "gitlab" in host and "glab" in present:
        return "glab"
    if "github" in host and "gh" in present:
        return "gh"
    return next((cli for cli in CLIS if cli in present), None)


def find_argv(cli: str, branch: str) -> list[str]:
    """The argv that lists the open pull (merge) requests of ``branch`` as JSON."""
    if cli == "glab":
        return ["glab", "mr", "list", "--source-branch", branch, "--output", "json"]
    return ["gh", "pr", "list", "--head", branch, "--state", "open", "--json", "url"]


def found_url(text: str) -> str | None:
    """The first request's URL in a list command's JSON (``url`` or glab's ``web_url``).

    Examples
    --------
    >>> found_url('[{"url": "https://github.com/o/r/pull/3"}]')
    'https://github.com/o/r/pull/3'
    >>> found_url("[]") is None, found_url('[{"web_url": "https://gl/o/r/-/merge_requests/2"}]')
    (True, 'https://gl/o/r/-/merge_requests/2')
    """
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return None
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, dict):
            url = entry.get("url") or entry.get("web_url")
            if isinstance(url, str) and url:
                return url
    return None


def create_argv(
    cli: str, *, branch: str, base: str, title: str, body: str, draft: bool
) -> list[str]:
    """The argv that opens a pull (merge) request of ``branch`` into ``base``."""
    if cli == "glab":
        argv = ["glab", "mr", "create", "--source-branch", branch, "--target-branch", base,
                "--title", title, "--description", body, "--yes"]  # fmt: skip
    else:
        argv = ["gh", "pr", "create", "--head", branch, "--base", base,
                "--title", title, "--body", body]  # fmt: skip
    return [*argv, "--draft"] if draft else argv


def created_url(text: str) -> str | None:
    """The last URL a create command printed (gh and glab print the new request's).

    Examples
    --------
    >>> created_url("Creating pull request...\\nhttps://github.com/o/r/pull/9\\n")
    'https://github.com/o/r/pull/9'
    """
    found = _URL.findall(text)
    return found[-1] if found else None

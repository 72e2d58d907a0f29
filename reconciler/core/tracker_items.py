"""Issues of a tracker as a WorkerSet items file: argv to list them, JSON in, YAML out (pure).

The tracker is read once, on request (`orch items from-gh`); the items file is
committed like any spec, so git stays the source of truth. Each item has
``number``, ``title``, ``body``, ``labels`` and ``url`` (prompts see
``item.body``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from reconciler.core.errors import UsageError

GH_FIELDS = "number,title,body,labels,url"


def gh_argv(repo: str, labels: Sequence[str], milestone: str | None, limit: int) -> list[str]:
    """``gh issue list`` for ``repo`` (OWNER/NAME), open issues, as JSON."""
    argv = ["gh", "issue", "list", "--repo", repo, "--json", GH_FIELDS, "--limit", str(limit)]
    for label in labels:
        argv += ["--label", label]
    return argv + (["--milestone", milestone] if milestone else [])


def glab_argv(project: str, labels: Sequence[str], milestone: str | None, limit: int) -> list[str]:
    """``glab issue list`` for ``project`` (GROUP/NAME), open issues, as JSON."""
    argv = ["glab", "issue", "list", "--repo", project, "--output", "json",
            "--per-page", str(limit)]  # fmt: skip
    if labels:
        argv += ["--label", ",".join(labels)]
    return argv + (["--milestone", milestone] if milestone else [])


def _entries(text: str, tool: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as err:
        msg = f"{tool} printed something that is not JSON: {text.strip()[:120]!r}"
        raise UsageError(msg) from err
    if not isinstance(data, list):
        msg = f"{tool} printed JSON that is not a list of issues"
        raise UsageError(msg)
    return [e for e in data if isinstance(e, dict)]


def _names(labels: Any) -> list[str]:
    out = []
    for label in labels or []:
        name = label.get("name") if isinstance(label, dict) else label
        if isinstance(name, str):
            out.append(name)
    return out


def items_from_gh(text: str) -> list[dict[str, Any]]:
    """Items from ``gh issue list --json number,title,body,labels,url``.

    Examples
    --------
    >>> items_from_gh('[{"number": 7, "title": "T", "body": "B", '
    ...               '"labels": [{"name": "bug"}], "url": "https://x/7"}]')
    [{'number': 7, 'title': 'T', 'body': 'B', 'labels': ['bug'], 'url': 'https://x/7'}]
    """
    return _items(_entries(text, "gh"), number="number", body="body", url="url")


def items_from_glab(text: str) -> list[dict[str, Any]]:
    """Items from ``glab issue list --output json`` (iid, description, web_url).

    Examples
    --------
    >>> items_from_glab('[{"iid": 3, "title": "T", "description": null, "labels": ["a"], '
    ...                 '"web_url": "https://gl/3"}]')
    [{'number': 3, 'title': 'T', 'body': '', 'labels': ['a'], 'url': 'https://gl/3'}]
    """
    return _items(_entries(text, "glab"), number="iid", body="description", url="web_url")


def _items(
    entries: list[dict[str, Any]], *, number: str, body: str, url: str
) -> list[dict[str, Any]]:
    """Each entry as an item; the arguments name the tracker's own keys."""
    return [
        {"number": e.get(number), "title": e.get("title") or "", "body": e.get(body) or "",
         "labels": _names(e.get("labels")), "url": e.get(url) or ""}
        for e in entries
    ]  # fmt: skip


def items_yaml(items: Sequence[dict[str, Any]], source: str) -> str:
    """The items file: a comment saying where it came from, then the YAML list."""
    import yaml

    ordered = sorted(items, key=lambda i: (not isinstance(i.get("number"), int), i.get("number")))
    head = (f"# {len(items)} issue(s) of {source}, written by orch; commit this file and the "
            "WorkerSet that names it starts a worker per item.\n")  # fmt: skip
    body = yaml.safe_dump(list(ordered), sort_keys=False, allow_unicode=True, width=100)
    return head + (body if items else "[]\n")

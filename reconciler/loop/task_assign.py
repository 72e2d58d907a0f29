"""`orch task assign`: a task becomes an item of a WorkerSet, so committing it starts a worker.

The WorkerSet is the one whose template uses the pipeline (or whose workers
do); without one, ``specs/tasks-<pipeline>.yaml`` is created with its items in
``config/tasks-<pipeline>.yaml``. The item is appended in the text (the rest
of the file kept byte for byte) and the specs are loaded again: when they do
not validate, or the new item makes no worker on the task's repo, every file
is put back as it was and the reason is the error. A backlog task moves to
active.md.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core.errors import SpecErrors, UsageError
from reconciler.core.model import Desired
from reconciler.core.tasks import Task, find, move
from reconciler.loop.state_store import write_atomic
from reconciler.loop.tasks import read_board, write_edit
from reconciler.spec.items_edit import append_to_inline_items, append_to_items_file
from reconciler.spec.validate import load_desired
from reconciler.spec.yamlsource import parse_documents


@dataclass(frozen=True)
class Assignment:
    """What `orch task assign` did: the set, the files it wrote, the worker it makes."""

    task: Task
    worker_set: str
    worker: str
    files: tuple[str, ...]  # written, relative to the control repo
    created: bool  # a new WorkerSet
    started: bool  # moved from the backlog to active.md


def _set_spec(root: Path, desired: Desired, name: str) -> dict[str, Any]:
    rel = desired.worker_sets[name].source.path
    docs, _ = parse_documents(rel, (root / rel).read_bytes())
    for doc in docs:
        data = doc.data if isinstance(doc.data, dict) else {}
        if data.get("kind") == "WorkerSet" and data.get("metadata", {}).get("name") == name:
            spec: dict[str, Any] = data["spec"]
            return spec
    msg = f"{rel}: WorkerSet {name} not found again; run orch validate"
    raise UsageError(msg)


def _pick_set(root: Path, desired: Desired, pipeline: str, wanted: str | None) -> str | None:
    if wanted is not None:
        if wanted not in desired.worker_sets:
            known = ", ".join(sorted(desired.worker_sets)) or "none"
            msg = f'no WorkerSet "{wanted}" (known: {known})'
            raise UsageError(msg)
        return wanted
    found = [
        name
        for name, ws in desired.worker_sets.items()
        if _set_spec(root, desired, name)["template"].get("pipeline") == pipeline
        or any(desired.workers[w].pipeline == pipeline for w in ws.workers)
    ]
    if len(found) > 1:
        msg = f"WorkerSets {', '.join(found)} all use pipeline {pipeline}; pick one with --set"
        raise UsageError(msg)
    return found[0] if found else None


def _new_set(pipeline: str, agent: str) -> tuple[str, str, str, str]:
    """Name, spec path, items path and spec text of a WorkerSet for tasks of ``pipeline``."""
    name = f"tasks-{pipeline}"[:63].rstrip("-")
    spec_rel, items_rel = f"specs/{name}.yaml", f"config/{name}.yaml"
    text = (
        f"# Tasks given to pipeline {pipeline} by `orch task assign`; the items are in"
        f" {items_rel}.\n"
        "apiVersion: orch/v1\nkind: WorkerSet\n"
        f"metadata:\n  name: {name}\n"
        f"spec:\n  items: {items_rel}\n"
        '  nameTemplate: "{{ item.repo }}-{{ item.id }}"\n'
        "  template:\n"
        '    repo: "{{ item.repo }}"\n'
        f"    pipeline: {pipeline}\n    agent: {agent}\n"
        '    vars: {task: "{{ item.task }}", title: "{{ item.title }}", '
        'topic: "{{ item.topic }}"}\n'
    )
    return name, spec_rel, items_rel, text


def _default_agent(desired: Desired, pipeline: str) -> str:
    used = Counter(w.agent for w in desired.workers.values() if w.pipeline == pipeline)
    return used.most_common(1)[0][0] if used else "claude"


def _edits(
    root: Path, desired: Desired, set_name: str | None, item: dict[str, Any], pipeline: str,
    agent: str | None,
) -> tuple[str, bool, dict[str, str]]:  # fmt: skip
    """The set's name, whether it is new, and the new text of each file to write."""
    if set_name is None:
        name, spec_rel, items_rel, text = _new_set(
            pipeline, agent or _default_agent(desired, pipeline)
        )
        for rel in (spec_rel, items_rel):
            if (root / rel).exists():
                msg = f"{rel} exists but holds no WorkerSet of pipeline {pipeline}; move it aside"
                raise UsageError(msg)
        return (
            name,
            True,
            {spec_rel: text, items_rel: append_to_items_file("[]\n", item, items_rel)},
        )
    spec = _set_spec(root, desired, set_name)
    items = spec["items"]
    if isinstance(items, str):
        old = (root / items).read_bytes().decode("utf-8")
        return set_name, False, {items: append_to_items_file(old, item, items)}
    rel = desired.worker_sets[set_name].source.path
    old = (root / rel).read_bytes().decode("utf-8")
    return set_name, False, {rel: append_to_inline_items(old, set_name, item, rel)}


def _already(root: Path, desired: Desired, set_name: str | None, task: Task) -> None:
    if set_name is None:
        return
    items = _set_spec(root, desired, set_name)["items"]
    if isinstance(items, str):
        docs, _ = parse_documents(items, (root / items).read_bytes())
        items = docs[0].data if docs and isinstance(docs[0].data, list) else []
    if any(isinstance(i, dict) and i.get("task") == task.id for i in items):
        msg = f"{task.id} is already an item of WorkerSet {set_name}"
        raise UsageError(msg)


def _check(
    root: Path, env: Mapping[str, str], set_name: str, before: set[str], repo: str | None
) -> str:
    try:
        desired = load_desired(root, env, require_env=False)
    except SpecErrors as err:
        first = err.errors[0]
        msg = f"the task does not fit WorkerSet {set_name}: {first}"
        raise UsageError(msg) from None
    new = [w for w in desired.worker_sets[set_name].workers if w not in before]
    if len(new) != 1:
        msg = f"WorkerSet {set_name} made {len(new)} new workers from one task item"
        raise UsageError(msg)
    if repo is not None and desired.workers[new[0]].repo != repo:
        got = desired.workers[new[0]].repo
        msg = f"WorkerSet {set_name} puts its workers on repo {got}, not {repo}; use another set"
        raise UsageError(msg)
    return new[0]


def assign_task(
    root: Path, task_id: str, pipeline: str, env: Mapping[str, str], *,
    agent: str | None = None, repo: str | None = None, worker_set: str | None = None,
) -> Assignment:  # fmt: skip
    """Add task ``task_id`` as an item of the WorkerSet of ``pipeline`` (created if none)."""
    board = read_board(root)
    task = find(board, task_id)
    if task.status == "completed":
        msg = f"{task.id} is completed ({task.path}:{task.line}); nothing to assign"
        raise UsageError(msg)
    repo = repo or task.repo
    desired = load_desired(root, env, require_env=False)
    if pipeline not in desired.pipelines:
        known = ", ".join(sorted(desired.pipelines)) or "none"
        msg = f'unknown pipeline "{pipeline}" (known: {known})'
        raise UsageError(msg)
    set_name = _pick_set(root, desired, pipeline, worker_set)
    if set_name is None and repo is None:
        msg = f"{task.id} names no repo (`[repo]` in its line); give one with --repo"
        raise UsageError(msg)
    _already(root, desired, set_name, task)
    item: dict[str, Any] = {"id": task.id.lower(), "task": task.id, "title": task.text,
                            "topic": task.text} | ({"repo": repo} if repo else {})  # fmt: skip
    name, created, texts = _edits(root, desired, set_name, item, pipeline, agent)
    before = set(desired.worker_sets[name].workers) if name in desired.worker_sets else set()
    old = {rel: (root / rel).read_bytes() if (root / rel).exists() else None for rel in texts}
    try:
        for rel, text in texts.items():
            write_atomic(root / rel, text)
        worker = _check(root, env, name, before, repo)
    except BaseException:
        _restore(root, old)
        raise
    started = task.status == "backlog"
    if started:
        task = write_edit(root, move(board, task.id, "active"))
    return Assignment(task, name, worker, tuple(texts), created, started)


def _restore(root: Path, old: dict[str, bytes | None]) -> None:
    for rel, data in old.items():
        if data is None:
            with contextlib.suppress(FileNotFoundError):
                (root / rel).unlink()
        else:
            (root / rel).write_bytes(data)

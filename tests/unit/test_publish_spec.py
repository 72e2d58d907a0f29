"""`publish` in Worker and WorkerSet specs, and the item a WorkerSet's worker keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.errors import SpecErrors
from reconciler.core.model import Publish, PullRequest
from reconciler.drivers.git import init_repo
from reconciler.spec.validate import load_desired

BASE = """\
apiVersion: orch/v1
kind: Repo
metadata: {name: app}
spec: {path: .}
---
apiVersion: orch/v1
kind: Agent
metadata: {name: bot}
spec: {command: [sh, -c, "true"]}
---
apiVersion: orch/v1
kind: Pipeline
metadata: {name: flow}
spec:
  stages: [{name: one, prompt: one.md.j2}]
"""
SET = """\
apiVersion: orch/v1
kind: WorkerSet
metadata: {name: issues}
spec:
  items:
    - {number: 12, title: Totals are off, body: "Off by a cent."}
  nameTemplate: "issue-{{ item.number }}"
  template:
    repo: app
    pipeline: flow
    agent: bot
    publish:
      pullRequest:
        title: "Fix #{{ item.number }}: {{ item.title }}"
        body: "{% raw %}{{ report }}{% endraw %}"
        draft: true
"""


def control(tmp_path: Path, specs: str) -> Path:
    root = tmp_path / "ctl"
    init_repo(root)
    # a plain Worker's item is {}: validate renders the prompt for it too
    (root / "one.md.j2").write_text("{{ item.body | default(worker) }}\n")
    (root / "specs").mkdir()
    (root / "specs" / "fleet.yaml").write_text(BASE + "---\n" + specs)
    return root


def worker(publish: str) -> str:
    spec = f"  publish: {publish}\n" if publish else ""
    return ("apiVersion: orch/v1\nkind: Worker\nmetadata: {name: w1}\n"
            f"spec:\n  repo: app\n  pipeline: flow\n  agent: bot\n{spec}")  # fmt: skip


def test_a_pull_request_with_defaults(tmp_path: Path) -> None:
    desired = load_desired(control(tmp_path, worker("{pullRequest: {}}")))
    assert desired.workers["w1"].publish == Publish(True, PullRequest())
    assert PullRequest().title == "{{ worker }}: {{ branch }}" and PullRequest().body is None


def test_no_publish_is_none_and_push_only_has_no_pull_request(tmp_path: Path) -> None:
    assert load_desired(control(tmp_path, worker(""))).workers["w1"].publish is None
    desired = load_desired(control(tmp_path / "b", worker("{push: true}")))
    assert desired.workers["w1"].publish == Publish(True, None)


def test_a_workerset_renders_the_title_over_its_item_and_keeps_the_item(tmp_path: Path) -> None:
    desired = load_desired(control(tmp_path, SET))
    w = desired.workers["issue-12"]
    assert w.publish == Publish(True, PullRequest("Fix #12: Totals are off", "{{ report }}", True))
    assert w.item == {"number": 12, "title": "Totals are off", "body": "Off by a cent."}


def test_a_misspelt_field_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecErrors) as info:
        load_desired(control(tmp_path, worker("{pullRequest: {titel: x}}")))
    assert 'unknown field "titel"' in str(info.value)
    assert "Worker/w1" in str(info.value)

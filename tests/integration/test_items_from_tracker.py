"""`orch items from-gh|from-glab`: a tracker's issues, read once through its CLI (a fake
`gh`/`glab` on PATH printing recorded JSON), become a WorkerSet items file whose
workers' prompts see item.body."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

GH_ISSUES = [
    {"number": 12, "title": "Checkout rounds totals", "body": "Totals are off by a cent.\n\n"
     "Steps: add 3 items at $0.10.", "labels": [{"name": "bug"}, {"name": "agent"}],
     "url": "https://github.com/acme/shop/issues/12"},
    {"number": 7, "title": "Add a dark theme", "body": "", "labels": [],
     "url": "https://github.com/acme/shop/issues/7"},
]  # fmt: skip
GLAB_ISSUES = [
    {"iid": 3, "title": "Cache the catalog", "description": "It loads on every request.",
     "labels": ["perf"], "web_url": "https://gitlab.com/acme/shop/-/issues/3"},
]  # fmt: skip
WORKERSET = """\
apiVersion: orch/v1
kind: WorkerSet
metadata:
  name: issues
spec:
  items: config/issues.yaml
  nameTemplate: "issue-{{ item.number }}"
  template:
    repo: app
    pipeline: p
    agent: fake
"""
PROMPT = "Fix issue #{{ item.number }}: {{ item.title }}\n\n{{ item.body }}\n"


def calls(forge: Path) -> list[list[str]]:
    return [json.loads(line) for line in (forge / "calls.jsonl").read_text().splitlines()]


def test_from_gh_writes_an_items_file_whose_workers_see_the_body(
    fleet: Any, fake_forge: Path, retry_until: Any
) -> None:
    (fake_forge / "issues.json").write_text(json.dumps(GH_ISSUES))
    done = fleet.cli("items", "from-gh", "--repo", "acme/shop", "--label", "agent",
                     "--milestone", "v2", "--limit", "5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert calls(fake_forge) == [["gh", "issue", "list", "--repo", "acme/shop", "--json",
                                  "number,title,body,labels,url", "--limit", "5",
                                  "--label", "agent", "--milestone", "v2"]]  # fmt: skip
    assert done.stdout.startswith("# 2 issue(s) of acme/shop, written by orch")
    items = yaml.safe_load(done.stdout)
    assert [i["number"] for i in items] == [7, 12]  # by number: a stable file
    assert items[1] == {"number": 12, "title": "Checkout rounds totals",
                        "body": GH_ISSUES[0]["body"], "labels": ["bug", "agent"],
                        "url": "https://github.com/acme/shop/issues/12"}  # fmt: skip

    stage = fleet.stage("work", prompt="playbooks/prompts/fix.md.j2")
    fleet.base("record_prompt.sh", stages=[stage])
    fleet.write("playbooks/prompts/fix.md.j2", PROMPT)
    fleet.write("config/issues.yaml", done.stdout)
    fleet.write("specs/issues.yaml", WORKERSET)
    valid = fleet.cli("validate")
    assert valid.returncode == 0, valid.stderr
    fleet.reconcile()
    prompt = retry_until(fleet.received("issue-12", "work", 1), 15, message="no prompt")
    assert prompt == f"Fix issue #12: Checkout rounds totals\n\n{GH_ISSUES[0]['body']}\n"


def test_from_glab_maps_iid_description_and_web_url(fleet: Any, fake_forge: Path) -> None:
    (fake_forge / "issues.json").write_text(json.dumps(GLAB_ISSUES))
    done = fleet.cli("items", "from-glab", "--project", "acme/shop", "--label", "perf")
    assert done.returncode == 0, done.stderr
    assert calls(fake_forge)[0][:5] == ["glab", "issue", "list", "--repo", "acme/shop"]
    assert "--output" in calls(fake_forge)[0] and "perf" in calls(fake_forge)[0]
    url = "https://gitlab.com/acme/shop/-/issues/3"
    assert yaml.safe_load(done.stdout) == [{"number": 3, "title": "Cache the catalog",
                                            "body": "It loads on every request.",
                                            "labels": ["perf"], "url": url}]  # fmt: skip


def test_no_gh_on_path_is_one_clear_line(fleet: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    done = fleet.cli("items", "from-gh", "--repo", "acme/shop", env={"PATH": str(empty)})
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("error: gh is not on PATH: install GitHub's CLI")
    assert len(done.stderr.splitlines()) == 1


def test_a_failing_gh_is_reported_not_written(fleet: Any, fake_forge: Path) -> None:
    auth = "To get started with GitHub CLI, please run:  gh auth login"
    done = fleet.cli("items", "from-gh", "--repo", "acme/shop", env={"FAKE_FORGE_FAIL": auth})
    assert done.returncode == 1
    assert done.stdout == ""
    assert "gh auth login" in done.stderr

"""The remembered desired state: equal to a fresh load, and never stale."""

from __future__ import annotations

import json
from typing import Any

from reconciler.loop import desired_cache, engine
from reconciler.spec.validate import load_desired

Fleet = Any  # tests/integration/conftest.py:Fleet (tests/ is not a package)


def test_a_reconcile_remembers_what_a_fresh_load_gives(fleet: Fleet) -> None:
    fleet.base("sleep.sh", setup=["true"])
    fleet.workers({"w1": {"vars": {"n": 1, "list": [1, "a"]}}, "w2": {"dependsOn": ["w1"]}})
    env = {"ORCH_TMUX_SOCKET": fleet.socket}
    assert desired_cache.read(fleet.root, env) is None  # nothing remembered yet
    engine.load(fleet.root, env, remember=True)
    cached = desired_cache.read(fleet.root, env)
    assert cached is not None
    assert cached == load_desired(fleet.root, env)
    assert engine.load(fleet.root, env) == cached
    mode = (fleet.root / "state" / desired_cache.CACHE_FILE).stat().st_mode & 0o777
    assert mode == 0o600  # it holds the Agents' env as the specs give it


def test_any_change_it_was_built_from_is_a_miss(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    env = {"ORCH_TMUX_SOCKET": fleet.socket}
    engine.load(fleet.root, env, remember=True)
    assert desired_cache.read(fleet.root, env) is not None
    assert desired_cache.read(fleet.root, {**env, "ORCH_HOST": "elsewhere"}) is None
    fleet.workers(["w1", "w2"])  # a spec edit
    assert desired_cache.read(fleet.root, env) is None
    engine.load(fleet.root, env, remember=True)
    fleet.write("playbooks/prompts/stage.md.j2", "changed {{ worker }}\n")  # a template it uses
    assert desired_cache.read(fleet.root, env) is None


def test_a_tampered_or_foreign_cache_is_ignored(fleet: Fleet) -> None:
    fleet.base("sleep.sh")
    fleet.workers(["w1"])
    env = {"ORCH_TMUX_SOCKET": fleet.socket}
    engine.load(fleet.root, env, remember=True)
    path = fleet.root / "state" / desired_cache.CACHE_FILE
    data = json.loads(path.read_text())
    data["desired"]["__dc__"] = "os.system"  # not one of the model's classes
    path.write_text(json.dumps(data))
    assert desired_cache.read(fleet.root, env) is None
    path.write_text("{not json")
    assert desired_cache.read(fleet.root, env) is None
    assert engine.load(fleet.root, env).workers.keys() == {"w1"}  # loads the specs instead

"""Property: whatever is in specs/ and config/, load_desired returns a Desired or raises
SpecErrors whose every error is located (path, line >= 1, col >= 1) and says something.

Three sources of input: (a) random bytes, (b) YAML documents built from the real field
names plus junk, dumped with yaml.safe_dump_all, (c) line-level mutations of a valid fleet.

Inputs that once crashed the loader are in the pools on purpose: NUL bytes and
path parts longer than 255 bytes (pathlib raises on both), and arithmetic errors in
WorkerSet templates (each also pinned by a test in test_loader.py).
Each example gets its own tempfile.TemporaryDirectory (tmp_path is per test, not per example).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from reconciler.core.errors import SpecError, SpecErrors
from reconciler.core.model import KINDS, Desired
from reconciler.spec.schemas import SCHEMA_NAMES, load_schema
from reconciler.spec.validate import load_desired

FUZZ = settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,  # no .hypothesis/ folder in the repo; failures print their example
)

PROMPTS = ("prompts/p.md.j2", "prompts/q.md.j2")
# Thousands of tiny folders: on tmpfs they cost well under a millisecond each, on a disk
# 10-15 ms (mostly rmdir). Use /dev/shm when there is one.
_TMP = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None


# ----------------------------------------------------------------------------- the property


@contextmanager
def control_repo(files: dict[str, bytes]) -> Iterator[Path]:
    """A fresh root holding the prompt templates and ``files``."""
    with tempfile.TemporaryDirectory(prefix="orch-fuzz-", dir=_TMP) as tmp:
        root = Path(tmp)
        for rel in PROMPTS:
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text("Hello {{ worker }}.\n")
        for rel, raw in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(raw)
        yield root


def check_load(root: Path) -> Desired | list[SpecError]:
    """Load ``root``; assert the property; return what came out."""
    try:
        desired = load_desired(root, {})
    except SpecErrors as err:
        assert err.errors, "SpecErrors with no errors"
        for e in err.errors:
            assert isinstance(e, SpecError)
            assert isinstance(e.path, str) and e.path, e
            assert not Path(e.path).is_absolute() and ".." not in Path(e.path).parts, e
            target = root / e.path
            assert target.is_file(), f"{e}: {e.path} is not a file of the control repo"
            assert isinstance(e.line, int) and e.line >= 1, e
            assert isinstance(e.col, int) and e.col >= 1, e
            assert isinstance(e.message, str) and e.message.strip(), e
            lines = len(target.read_bytes().decode("utf-8", "replace").splitlines())
            assert e.line <= lines + 1, f"{e}: line past the end ({lines} lines)"
            assert str(e).startswith(f"{e.path}:{e.line}:{e.col}: ")
        # what kinds of problem the examples reach (see --hypothesis-show-statistics)
        if currently_in_test_context():
            for kind in sorted({re.sub(r'"[^"]*"|\d+|\(.*|:.*|/.*', "", e.message).strip()
                                for e in err.errors}):
                event(f"error: {kind[:40]}")
        return err.errors
    assert isinstance(desired, Desired)
    if currently_in_test_context():
        event(f"loaded: {min(len(desired.workers), 3)}+ workers")
    return desired


# ----------------------------------------------------------------------------- (a) random bytes

YAMLISH = [
    *"abkmnsv019 :-,[]{}&*!|>'\"#%@`?.\\/\t\n\n\n\r",
    "apiVersion: orch/v1\n", "kind: Worker\n", "metadata:\n  name: w\n", "spec:\n", "---\n",
    "  ", "- ", "&a ", "*a", "<<: ", "!!str ", "!!binary ", "\ufeff", "\u2028", "\x85", "é",
]


@FUZZ
@given(
    raw=st.one_of(
        st.binary(max_size=600),
        st.lists(st.sampled_from(YAMLISH), max_size=80).map(lambda p: "".join(p).encode()),
    ),
    where=st.sampled_from(["specs/x.yaml", "specs/x.yaml", "config/orch.yaml"]),
)
def test_random_bytes(raw: bytes, where: str) -> None:
    with control_repo({where: raw}) as root:
        check_load(root)


# ----------------------------------------------------------------------------- (b) documents


def _field_names() -> list[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("properties", {}))
            for sub in node.values():
                walk(sub)
        elif isinstance(node, list):
            for sub in node:
                walk(sub)

    for schema in SCHEMA_NAMES:
        walk(load_schema(schema))
    return sorted(names)


FIELDS = _field_names()
JUNK_KEYS = ["stallTimout", "Kind", "specs", "nme", "", "x", "1", "true", "<<"]
NAMES = ["app", "bot", "flow", "w1", "w2", "w3", "set", "W_1", "-x", "a" * 64, "app-1"]
DURATIONS = ["10s", "5m", "1h30m", "200ms", "1.5s", "0s", "10 minutes", "s", "1d", ""]
TEMPLATES = ["{{ item }}", "{{ item.x }}", "w-{{ item.x }}", "w-{{ index }}", "{{ index }}",
             "{{ item.missing }}", "{% if %}", "{{", "}}", "{{ item | upper }}", "w1",
             "{{ item.x }}-{{ item.x }}", "{{ item['x'] }}", "{{ item.__class__ }}",
             "{{ item.x / 0 }}", "{{ 2.0 ** 100000 }}", "{{ item.typo }}"]
_SAFE_TEXT = st.text(max_size=40) | st.sampled_from(["a\x00b", "x" * 300, "d/" + "y" * 300])


GIT = "@GIT_REPO@"  # replaced by the path of a real git repo after dumping
PATHS = st.sampled_from([".", GIT, "../nowhere", "prompts", "/etc/passwd", "config/items.yaml",
                         "config/items.json", PROMPTS[0], PROMPTS[1], "../../etc/passwd",
                         "specs", ""])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), _SAFE_TEXT,
    st.sampled_from(NAMES), st.sampled_from(DURATIONS), st.sampled_from(TEMPLATES),
    st.sampled_from([*KINDS, "Wroker", "orch/v1", "orch/v2", "signal", "exit0", "maybe"]),
    PATHS,
)
KEYS = st.one_of(st.sampled_from(FIELDS), st.sampled_from(JUNK_KEYS), _SAFE_TEXT)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=8,
)
_NAME = st.sampled_from(NAMES[:7])
_WORKER = st.fixed_dictionaries(
    {"repo": st.one_of(_NAME, st.sampled_from(TEMPLATES)), "pipeline": _NAME, "agent": _NAME},
    optional={"dependsOn": st.lists(_NAME, max_size=3), "branch": _SAFE_TEXT | _NAME,
              "vars": st.dictionaries(_SAFE_TEXT, VALUES, max_size=3),
              "suspend": st.booleans() | st.sampled_from(TEMPLATES),
              "restartPolicy": VALUES, "host": st.none() | _NAME, "junk": VALUES})
_STAGE = st.fixed_dictionaries(
    {"name": st.sampled_from(["one", "two", "two", "Bad"]), "prompt": PATHS},
    optional={"stallTimeout": st.sampled_from(DURATIONS), "timeout": st.sampled_from(DURATIONS),
              "doneWhen": st.sampled_from(["signal", "exit0", "any", "maybe"]),
              "restartPrompt": PATHS})
ITEM = st.dictionaries(st.sampled_from(["x", "repo", "issue"]),
                       st.sampled_from(NAMES) | st.integers(0, 99), max_size=3)
NEAR_VALID_SPEC = {
    "Repo": st.fixed_dictionaries(
        {"path": PATHS},
        optional={"defaultBranch": _NAME, "setup": st.lists(_SAFE_TEXT, max_size=2),
                  "workflows": VALUES, "url": _SAFE_TEXT}),
    "Agent": st.fixed_dictionaries(
        {"command": st.lists(_SAFE_TEXT | st.sampled_from(TEMPLATES), max_size=3)},
        optional={"env": VALUES, "quietPatterns": st.lists(_SAFE_TEXT, max_size=2),
                  "resume": VALUES, "sessionIdFrom": _SAFE_TEXT}),
    "Pipeline": st.fixed_dictionaries({"stages": st.lists(_STAGE, max_size=3)}),
    "Worker": _WORKER,
    "WorkerSet": st.fixed_dictionaries(
        {"items": st.lists(ITEM | VALUES, max_size=4) | PATHS,
         "nameTemplate": st.sampled_from(TEMPLATES), "template": _WORKER},
        optional={"parallelism": st.integers(-1, 5) | VALUES}),
}
METADATA = st.fixed_dictionaries(
    {"name": st.sampled_from(NAMES)},
    optional={"labels": st.dictionaries(_SAFE_TEXT, _SAFE_TEXT | st.integers(), max_size=2)})


@st.composite
def documents(draw: st.DrawFn) -> Any:
    """Mostly objects of a real kind with a near-valid spec; sometimes anything at all."""
    style = draw(st.integers(0, 9))
    if style == 0:
        return draw(VALUES)
    kind = draw(st.sampled_from([*KINDS, "Wroker"]))
    doc: dict[str, Any] = {
        "apiVersion": draw(st.sampled_from(["orch/v1"] * 8 + ["orch/v2", None])),
        "kind": kind,
        "metadata": draw(METADATA),
        "spec": draw(NEAR_VALID_SPEC.get(kind, _WORKER) if style > 2 else VALUES),
    }
    for key in draw(st.lists(st.sampled_from([*doc, "extra"]), max_size=2, unique=True)):
        if draw(st.booleans()):
            doc.pop(key, None)
        else:
            doc[key] = draw(VALUES)
    return doc


def _obj(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "orch/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


WORKER_NAMES = ["w1", "w2", "w3", "w4"]


@st.composite
def clean_fleet(draw: st.DrawFn) -> list[Any]:
    """A schema-valid fleet whose workers depend on each other and share branches at random,
    so that the checks across objects (references, cycles, branches, WorkerSet expansion)
    run; a single junk document would otherwise hide them behind its own error."""
    docs: list[Any] = [
        _obj("Repo", "app", {"path": draw(st.sampled_from([GIT, GIT, GIT, ".", "../nowhere"]))}),
        _obj("Agent", "bot", {"command": ["sh", "-c", "true"]}),
        _obj("Pipeline", "flow", {"stages": [
            {"name": "one", "prompt": draw(st.sampled_from([*PROMPTS, PROMPTS[0]]))},
            {"name": "two", "prompt": PROMPTS[1],
             "stallTimeout": draw(st.sampled_from(["10s", "5m", "1h30m", "200ms"]))}]}),
    ]
    names = draw(st.lists(st.sampled_from(WORKER_NAMES), max_size=4, unique=True))
    for name in names:
        spec: dict[str, Any] = {"repo": "app", "pipeline": "flow", "agent": "bot"}
        deps = draw(st.lists(st.sampled_from(WORKER_NAMES), max_size=2, unique=True))
        if deps:
            spec["dependsOn"] = deps
        branch = draw(st.sampled_from([None, None, "b1", "b2", "orch/w1"]))
        if branch:
            spec["branch"] = branch
        docs.append(_obj("Worker", name, spec))
    if draw(st.booleans()):
        items = draw(st.lists(st.fixed_dictionaries(
            {"x": st.sampled_from(["a", "b", "w1", "Bad"]),
             "repo": st.sampled_from(["app", "nope"]), "issue": st.integers(0, 3)}), max_size=4))
        template = {"repo": draw(st.sampled_from(["app", "{{ item.repo }}"])), "pipeline": "flow",
                    "agent": "bot", "vars": {"issue": "{{ item.issue }}"}}
        if draw(st.booleans()):
            template["dependsOn"] = draw(st.lists(st.sampled_from(
                [*WORKER_NAMES, "{{ item.x }}", "s-{{ index }}"]), max_size=2, unique=True))
        docs.append(_obj("WorkerSet", "set", {
            "items": items,
            "nameTemplate": draw(st.sampled_from(["s-{{ index }}", "{{ item.x }}",
                                                  "s-{{ item.issue }}", "{{ item.repo }}"])),
            "template": template}))
    return draw(st.permutations(docs))


CONFIG = st.dictionaries(st.sampled_from(["tmux", "worktrees", "reconcile", "git", "host",
                                          "reports", "logging"]), VALUES, max_size=4) | VALUES
ITEMS_FILE = st.lists(ITEM, max_size=4) | VALUES


def dump(docs: list[Any], unicode: bool) -> bytes:
    return yaml.safe_dump_all(docs, allow_unicode=unicode, sort_keys=False).encode()


@FUZZ
@given(
    spec_files=st.one_of(
        st.lists(st.lists(documents(), min_size=1, max_size=4), min_size=1, max_size=3),
        clean_fleet().flatmap(lambda docs: st.integers(1, 3).map(
            lambda n: [docs[i::n] for i in range(n)])),
    ),
    items=st.none() | ITEMS_FILE,
    config=st.none() | CONFIG,
    unicode=st.booleans(),
)
def test_generated_documents(git_repo: Path, spec_files: list[list[Any]], items: Any,
                             config: Any, unicode: bool) -> None:
    def raw(docs: list[Any]) -> bytes:
        return dump(docs, unicode).replace(GIT.encode(), str(git_repo).encode())

    files = {f"specs/{'sub/' if i == 2 else ''}f{i}.yaml": raw(docs)
             for i, docs in enumerate(spec_files)}
    if items is not None:
        files["config/items.yaml"] = raw([items])
    if config is not None:
        files["config/orch.yaml"] = raw([config])
    with control_repo(files) as root:
        check_load(root)


# ----------------------------------------------------------------------------- (c) mutations

SEED_SPECS = """\
apiVersion: orch/v1
kind: Repo
metadata:
  name: app
spec:
  path: GIT_REPO
  defaultBranch: main
  setup: [make deps]
  workflows: {test: make test}
---
apiVersion: orch/v1
kind: Agent
metadata:
  name: bot
spec:
  command: [sh, -c, "cat > /dev/null"]
  resume: [sh, -c, "echo {{ session_id }}"]
  sessionIdFrom: "regex:session=(\\\\w+)"
  quietPatterns: ['"subtype":"api_retry"']
  env: {MODE: "1"}
---
apiVersion: orch/v1
kind: Pipeline
metadata:
  name: flow
  labels: {team: core}
spec:
  stages:
    - name: one
      prompt: prompts/p.md.j2
      stallTimeout: 10m
      timeout: 2h
      doneWhen: signal
    - name: two
      prompt: prompts/q.md.j2
      restartPrompt: prompts/p.md.j2
      doneWhen: any
---
apiVersion: orch/v1
kind: Worker
metadata:
  name: w1
spec:
  repo: app
  pipeline: flow
  agent: bot
  branch: feature/one
  base: main
  vars: {issue: 42, title: "Fix it"}
  restartPolicy:
    maxRestarts: 5
    backoff: {initial: 10s, max: 5m}
  suspend: false
  host: null
---
apiVersion: orch/v1
kind: Worker
metadata:
  name: w2
spec:
  repo: app
  pipeline: flow
  agent: bot
  branch: feature/two
  vars: &v {issue: 43}
  restartPolicy:
    <<: &rp {maxRestarts: 5}
    backoff: {initial: 1s}
  dependsOn: [w1]
"""

SEED_SET = """\
apiVersion: orch/v1
kind: WorkerSet
metadata:
  name: set
spec:
  parallelism: 2
  items: config/items.yaml
  nameTemplate: "fix-{{ item.issue }}"
  template:
    repo: "{{ item.repo }}"
    pipeline: flow
    agent: bot
    vars: {issue: "{{ item.issue }}"}
    dependsOn: [w1]
---
apiVersion: orch/v1
kind: WorkerSet
metadata:
  name: inline
spec:
  items:
    - {n: 1}
    - {n: 2}
  nameTemplate: "inline-{{ item.n }}"
  template: {repo: app, pipeline: flow, agent: bot, suspend: true}
"""

SEED_ITEMS = "- {repo: app, issue: 1}\n- repo: app\n  issue: 2\n"
SEED_CONFIG = "tmux: {socket: fuzz, session: fuzz}\nreconcile:\n  resync: 10s\n  debounce: 200ms\n"

SEED_FILES = {"specs/fleet.yaml": SEED_SPECS, "specs/more/set.yml": SEED_SET,
              "config/items.yaml": SEED_ITEMS, "config/orch.yaml": SEED_CONFIG}

TOKENS = ["", "x", "-", ": ", ":", "[", "]", "{", "}", "&a", "*a", "*v", "!!str",
          "!!python/object:os.system", "!!set", "null", "~", "true", "10 minutes", "W_1",
          "orch/v2", "Wroker", "'", '"', "#", "|", ">", "? ", "<<: *rp", "{{ item }}",
          "{{ item.nope }}", "%", "@", "\t", "0x1F", "1e999", ".inf", "w1", "w2", "app",
          "fix-1", "inline-1", "---", "...", "- ", "\\", "é", "config/items.yaml", "../x"]
OPS = ["delete", "duplicate", "indent", "dedent", "replace", "swap", "insert"]
_TOKEN = re.compile(r"\w+|[^\w\s]|\s+")


def mutate(text: str, ops: list[tuple[str, int, int, str]]) -> str:
    lines = text.split("\n")
    for op, a, b, token in ops:
        i = a % len(lines)
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * (1 + b % 4) + lines[i]
        elif op == "dedent":
            lines[i] = lines[i][1 + b % 4:] if lines[i][:1] == " " else lines[i]
        elif op == "replace":
            parts = _TOKEN.findall(lines[i]) or [""]
            parts[b % len(parts)] = token
            lines[i] = "".join(parts)
        elif op == "swap":
            j = b % len(lines)
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines.insert(i, " " * (b % 6) + token)
    return "\n".join(lines)


def seed(git_repo: Path) -> dict[str, str]:
    return {k: v.replace("GIT_REPO", str(git_repo)) for k, v in SEED_FILES.items()}


def test_mutation_seed_is_a_valid_fleet(git_repo: Path) -> None:
    with control_repo({k: v.encode() for k, v in seed(git_repo).items()}) as root:
        desired = check_load(root)
    assert isinstance(desired, Desired), "\n".join(map(str, desired))
    assert list(desired.workers) == ["w1", "w2", "fix-1", "fix-2", "inline-1", "inline-2"]
    assert desired.workers["w2"].depends_on == ("w1",)
    assert desired.workers["w2"].restart_policy.max_restarts == 5
    assert desired.config.tmux_socket == "fuzz"


def _at(needle: str) -> int:
    return SEED_SPECS.split("\n").index(needle)


@pytest.mark.parametrize("ops", [
    [("delete", _at("  path: GIT_REPO"), 0, "")],  # a Repo with neither path nor url
    [("replace", _at("  name: w1"), 4, "W_1")],  # `name: W_1`
    [("indent", _at("  dependsOn: [w1]"), 1, "")],  # breaks the block mapping
    [("duplicate", _at("  branch: feature/two"), 0, "")],  # duplicate key
    [("swap", _at("  name: w2"), _at("  name: w1"), "")],  # w2 depends on itself
])
def test_mutations_of_the_seed_are_caught(git_repo: Path, ops: list[tuple[str, int, int, str]],
                                          ) -> None:
    files = seed(git_repo)
    files["specs/fleet.yaml"] = mutate(files["specs/fleet.yaml"], ops)
    with control_repo({k: v.encode() for k, v in files.items()}) as root:
        result = check_load(root)
    assert isinstance(result, list), "the mutation should have made the fleet invalid"
    assert any(e.path == "specs/fleet.yaml" for e in result), "\n".join(map(str, result))


@FUZZ
@given(
    target=st.sampled_from(sorted(SEED_FILES)),
    ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 10**6), st.integers(0, 10**6),
                           st.sampled_from(TOKENS)), min_size=1, max_size=4),
)
def test_mutated_fleet(git_repo: Path, target: str, ops: list[tuple[str, int, int, str]]) -> None:
    files = seed(git_repo)
    files[target] = mutate(files[target], ops)
    with control_repo({k: v.encode() for k, v in files.items()}) as root:
        check_load(root)

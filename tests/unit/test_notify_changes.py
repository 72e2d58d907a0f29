"""Which phase changes are told (core.notify), and notify.command as validate checks it."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.notify import NOTIFY_PHASES, SETTLED, Notice, command, env, notices
from reconciler.spec.config import load_config

README = Path(__file__).resolve().parents[2] / "README.md"
PHASES = ["Running", "Backoff", "Failed", "Succeeded", "Limited", "NeedsInput", "Blocked"]
fleets = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.tuples(st.sampled_from(PHASES), st.sampled_from(["", "why"])),
    max_size=3,
)


def phases_of(fleet: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {name: phase for name, (phase, _) in fleet.items()}


@given(st.lists(fleets, min_size=1, max_size=6))
def test_each_change_into_a_phase_that_wants_a_person_is_told_once(
    sequence: list[dict[str, tuple[str, str]]],
) -> None:
    seen: dict[str, str] = {}
    for fleet in sequence:
        told = notices(seen, fleet)
        workers = [n for n in told if n.phase != SETTLED]
        assert {n.worker for n in workers} == {
            name for name, (phase, _) in fleet.items()
            if phase in NOTIFY_PHASES and seen.get(name) != phase
        }  # fmt: skip
        assert len(workers) == len({n.worker for n in workers})
        assert notices(phases_of(fleet), fleet) == []  # the same phases again: nothing new
        seen = phases_of(fleet)


def test_needs_input_is_told_by_its_name() -> None:
    told = notices(
        {"a": "Running", "b": "Running"}, {"a": ("NeedsInput", "Bash"), "b": ("Running", "")}
    )
    assert told == [Notice("a", "NeedsInput", "Bash")]


def test_the_fleet_settling_is_told_once_with_its_counts() -> None:
    done = {"a": ("Succeeded", "all stages done"), "b": ("Blocked", "dependency a failed")}
    told = notices({"a": "Running", "b": "Waiting"}, done)
    assert told[-1] == Notice("", SETTLED, "1 Blocked, 1 Succeeded")
    assert [n.phase for n in notices(phases_of(done), done)] == []


def test_the_command_and_its_environment_carry_worker_phase_reason_and_fleet() -> None:
    notice = Notice("w1", "Failed", "crashed: exit 3")
    argv = command(
        ("echo", "{{ fleet }}/{{ worker }}", "{{ phase | lower }}: {{ reason }}"), notice, "f"
    )
    assert argv == ["echo", "f/w1", "failed: crashed: exit 3"]
    assert env(notice, "f") == {
        "ORCH_WORKER": "w1", "ORCH_PHASE": "Failed", "ORCH_REASON": "crashed: exit 3",
        "ORCH_FLEET": "f",
    }  # fmt: skip


def config_errors(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    (tmp_path / "config").mkdir(exist_ok=True)
    (tmp_path / "config" / "orch.yaml").write_text(text)
    _, errors = load_config(tmp_path, {})
    return [(e.line, e.message) for e in errors]


def test_validate_names_the_line_of_a_notify_template_that_would_not_render(tmp_path: Path) -> None:
    errors = config_errors(
        tmp_path,
        "notify:\n  command:\n    - notify-send\n    - '{{ workr }}'\n    - '{{ phase }'\n",
    )
    assert errors[0][0] == 4 and 'notify.command[1]: unknown variable "workr"' in errors[0][1]
    assert "names: fleet, phase, reason, worker" in errors[0][1]
    assert errors[1][0] == 5 and "notify.command[2]: template syntax error" in errors[1][1]
    assert config_errors(tmp_path, "notify:\n  command: ['', x]\n") == [
        (2, "notify.command[0] must name a program")
    ]


def test_notify_settings_are_read(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "orch.yaml").write_text(
        "notify: {command: [echo, '{{ worker }}'], timeout: 3s}\n"
    )
    config, errors = load_config(tmp_path, {})
    assert not errors
    assert config.notify_command == ("echo", "{{ worker }}") and config.notify_timeout == 3.0


def test_the_readme_examples_are_valid_config(tmp_path: Path) -> None:
    section = README.read_text().split("### Notifications", 1)[1].split("\n## ", 1)[0]
    examples = re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert len(examples) == 3
    for example in examples:
        assert config_errors(tmp_path, example) == [], example

"""Fixtures for end-to-end tests with the real Claude Code CLI against the stub API.

- ``claude_bin``: the pinned CLI (``CLAUDE_VERSION``), from ``ORCH_CLAUDE_BIN`` or
  ``.ci/node/node_modules/.bin/claude`` under the repository root (``.ci/run``
  installs it there). Missing or another version: the test is **skipped with a
  loud reason** that says how to install it, and the run ends with a banner
  naming every such skip; with ``ORCH_REQUIRE_E2E=1`` it fails instead.
- ``stub_api``: a started :class:`~reconciler.stubapi.StubAPI`, stopped after
  the test. Its script comes from ``@pytest.mark.stub_script(script)``, or the
  test calls ``stub_api.set_script(...)`` before starting the agent.
- ``claude_env``: the agent's environment, isolated: ``ANTHROPIC_BASE_URL`` at
  the stub, a test API key, ``CLAUDE_CONFIG_DIR`` in ``tmp_path`` (the user's
  ``~/.claude`` is never read or written; HOME is already a temp folder), no
  telemetry or auto-update, ``IS_SANDBOX=1`` (``--dangerously-skip-permissions``
  as root), ``CLAUDE_CODE_MAX_RETRIES=2`` (an API error gives up in ~3 s, not
  ~3 min).
- ``hooks``: a :class:`HookRecorder`: pass ``"--settings", str(hooks.settings)``;
  ``hooks.events()`` lists what each hook received; ``block_stop`` makes the
  Stop hook answer ``{"decision": "block"}`` while ``stop_hook_active`` is false.
- ``run_claude``: runs ``claude -p --output-format stream-json --verbose`` with
  that environment and returns a :class:`ClaudeRun` (exit code, duration, the
  parsed stream-json lines, the ``init`` and ``result`` lines).

What the CLI prints and does in each situation is written down in
``docs/claude-code-facts.md``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from claude_run import CLAUDE_VERSION, TEST_API_KEY, ClaudeRun, HookRecorder

from reconciler.stubapi import StubAPI

REPO_ROOT = Path(__file__).resolve().parents[2]
PINNED_BIN = REPO_ROOT / ".ci" / "node" / "node_modules" / ".bin" / "claude"
INSTALL_HINT = (
    "install it with ./scripts/install-claude (npm, into .ci/node), "
    "or point ORCH_CLAUDE_BIN at a claude "
    f"{CLAUDE_VERSION} binary"
)

_skipped: list[str] = []


def _claude_problem() -> tuple[Path, str | None]:
    """The CLI to use and, when it cannot be used, why (``None``: ready)."""
    binary = Path(os.environ.get("ORCH_CLAUDE_BIN") or PINNED_BIN)
    problem = _version_problem(binary)
    unavailable = os.environ.get("ORCH_CLAUDE_UNAVAILABLE")
    if problem is None:
        return binary, None
    if unavailable:
        problem += f" (.ci/run could not install it: {unavailable})"
    return binary, f"{problem}; {INSTALL_HINT}"


def _version_problem(binary: Path) -> str | None:
    if not binary.exists():
        return f"the Claude Code CLI is not installed at {binary}"
    try:
        done = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"{binary} --version failed ({err})"
    version = done.stdout.strip().split(" ")[0] if done.stdout.strip() else "?"
    if done.returncode != 0 or version != CLAUDE_VERSION:
        return (
            f"{binary} is Claude Code {version!r}, the tests are pinned to {CLAUDE_VERSION}"
            " (its behaviour is recorded in docs/claude-code-facts.md)"
        )
    return None


@pytest.fixture(scope="session")
def claude_bin() -> Path:
    """The pinned Claude Code CLI; a loud skip (or a failure with ORCH_REQUIRE_E2E=1) without it."""
    binary, problem = _claude_problem()
    if problem is not None:
        if os.environ.get("ORCH_REQUIRE_E2E") == "1":
            pytest.fail(f"E2E REQUIRED (ORCH_REQUIRE_E2E=1) but {problem}", pytrace=False)
        reason = f"E2E SKIPPED: {problem}"
        _skipped.append(reason)
        pytest.skip(reason)
    return binary


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """End the run with a banner when end-to-end tests were skipped: never silently."""
    if _skipped:
        terminalreporter.write_sep(
            "!", "END-TO-END TESTS WITH THE REAL CLAUDE CODE CLI DID NOT RUN"
        )
        terminalreporter.write_line(_skipped[0], red=True, bold=True)


@pytest.fixture
def stub_api(request: pytest.FixtureRequest) -> Iterator[StubAPI]:
    """A started stub of the Messages API; script from ``@pytest.mark.stub_script(...)``."""
    marker = request.node.get_closest_marker("stub_script")
    script = marker.args[0] if marker is not None else []
    with StubAPI(script) as stub:
        yield stub


@pytest.fixture
def claude_env(stub_api: StubAPI, tmp_path: Path) -> dict[str, str]:
    """The agent's isolated environment, pointed at ``stub_api``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC", "CLAUDE"))}
    config = tmp_path / "claude-config"
    config.mkdir()
    env.update(
        ANTHROPIC_BASE_URL=stub_api.url,
        ANTHROPIC_API_KEY=TEST_API_KEY,
        CLAUDE_CONFIG_DIR=str(config),
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
        DISABLE_AUTOUPDATER="1",
        IS_SANDBOX="1",
        CLAUDE_CODE_MAX_RETRIES="2",
    )
    return env


@pytest.fixture
def run_claude(claude_bin: Path, claude_env: dict[str, str]) -> Callable[..., ClaudeRun]:
    """``run_claude(prompt, cwd, *args, timeout=120, env=None, skip_permissions=True)``.

    One headless run: ``claude -p --output-format stream-json --verbose
    [--dangerously-skip-permissions] <args> -- <prompt>`` in ``cwd`` (``--``
    keeps a variadic option such as ``--allowedTools`` from swallowing the
    prompt). ``env`` adds to ``claude_env``; a ``None`` value removes a variable.
    """

    def run(
        prompt: str,
        cwd: Path,
        *args: str,
        timeout: float = 120,
        env: dict[str, str | None] | None = None,
        skip_permissions: bool = True,
    ) -> ClaudeRun:
        argv = [str(claude_bin), "-p", "--output-format", "stream-json", "--verbose"]
        if skip_permissions:
            argv.append("--dangerously-skip-permissions")
        argv += [*args, "--", prompt]
        started = time.monotonic()
        done = subprocess.run(
            argv,
            cwd=cwd,
            env=_merged(claude_env, env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
        return ClaudeRun(done.returncode, time.monotonic() - started, lines, done.stderr)

    return run


def _merged(base: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    """``base`` with ``changes`` applied: a string sets a variable, ``None`` removes it."""
    out = dict(base)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@pytest.fixture
def hooks(tmp_path: Path) -> HookRecorder:
    """A settings file (``--settings hooks.settings``) whose hooks record every event."""
    return HookRecorder(tmp_path / "hooks")


# -- a control repo whose workers are real claude agents -------------------------------

_INTEGRATION = Path(__file__).resolve().parents[1] / "integration" / "conftest.py"
_spec = importlib.util.spec_from_file_location("orch_integration_fixtures", _INTEGRATION)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures  # dataclasses look their module up while it loads
_spec.loader.exec_module(_fixtures)
fleet_factory = _fixtures.fleet_factory  # the integration tests' control repo, reused here
fleet = _fixtures.fleet

"""Agent accounts paused by a usage limit: state/accounts.json, and the actions that change it.

The planner decides (:mod:`reconciler.core.limits`); these handlers only write
what it decided: a pause with its end and reason, the probe that starts
first, and the all-clear once the probe got through.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from reconciler.core.actions import Action, Verb
from reconciler.core.limits import attempt_key
from reconciler.core.model import AccountLimit
from reconciler.loop.pass_context import Handler, PassContext
from reconciler.loop.state_store import write_atomic

ACCOUNTS_FILE = "accounts.json"


def load_accounts(state_dir: Path) -> dict[str, AccountLimit]:
    """The paused accounts; an unreadable file is no pause (the next rejection says again)."""
    try:
        data = json.loads((state_dir / ACCOUNTS_FILE).read_bytes())
        return {str(k): AccountLimit(**v) for k, v in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _save(ap: PassContext, accounts: dict[str, AccountLimit]) -> None:
    text = json.dumps({k: asdict(v) for k, v in accounts.items()}, indent=1, sort_keys=True)
    write_atomic(ap.desired.state_dir / ACCOUNTS_FILE, text)


def _limit(ap: PassContext, action: Action) -> dict[str, object]:
    accounts = load_accounts(ap.desired.state_dir)
    until = action.backoff_until or ap.clock()
    accounts[action.repo or ""] = AccountLimit(until, max(until - ap.clock(), 1.0), action.reason)
    _save(ap, accounts)
    return {"account": action.repo, "until": until}


def _probe(ap: PassContext, action: Action) -> dict[str, object]:
    accounts = load_accounts(ap.desired.state_dir)
    acct = accounts.get(action.repo or "")
    if acct is not None:
        accounts[action.repo or ""] = replace(acct, probe=action.worker, probe_started=ap.clock())
        _save(ap, accounts)
    return {"account": action.repo}


def _clear(ap: PassContext, action: Action) -> dict[str, object]:
    accounts = load_accounts(ap.desired.state_dir)
    if accounts.pop(action.repo or "", None) is not None:
        _save(ap, accounts)
    return {"account": action.repo}


def fold_cost(ap: PassContext, name: str) -> None:
    """File the cost the worker's current attempt reported, before its state moves on."""
    state = ap.state(name)
    files = ap.observed.files.get(name)
    stream = files.stream if files else None
    key = attempt_key(state.stage, state.attempt)
    if stream and stream.cost_usd is not None and key not in state.costs:
        ap.save(replace(state, costs={**state.costs, key: float(stream.cost_usd)}))


ACCOUNT_HANDLERS: dict[Verb, Handler] = {
    Verb.LIMIT_ACCOUNT: _limit,
    Verb.PROBE_ACCOUNT: _probe,
    Verb.CLEAR_ACCOUNT: _clear,
}

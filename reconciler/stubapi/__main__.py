"""``python -m reconciler.stubapi --port P --script file.json [--record requests.jsonl]``.

Serves the script until SIGTERM or SIGINT. The first line printed is
``stubapi: listening on http://127.0.0.1:<port>`` (with ``--port 0`` the port
is chosen by the system; read it from that line). A script that cannot be
read prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from reconciler.stubapi.server import StubAPI
from reconciler.stubapi.steps import Script, ScriptError


def main(argv: list[str] | None = None) -> int:
    """Run the stub in the foreground; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.stubapi",
        description="A scripted stub of the Anthropic Messages API.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument(
        "--script", type=Path, help="JSON script (default: every request ends the turn)"
    )
    parser.add_argument("--record", type=Path, help="append every request here as JSON lines")
    args = parser.parse_args(argv)
    try:
        script = Script.load(args.script) if args.script else Script.of([])
    except ScriptError as err:
        print(f"stubapi: {err}", file=sys.stderr)
        return 2
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    with StubAPI(script, host=args.host, port=args.port, record=args.record) as stub:
        print(f"stubapi: listening on {stub.url}", flush=True)
        done.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

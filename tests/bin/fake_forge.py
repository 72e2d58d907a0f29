"""A stand-in for the gh and glab CLIs (the hosting service is not reachable from tests).

Every call appends its argv as one JSON line to $FAKE_FORGE_DIR/calls.jsonl.
`pr|mr list` prints $FAKE_FORGE_DIR/requests.json (default []); `pr|mr create`
records the new request there and prints its URL; `issue list` prints
$FAKE_FORGE_DIR/issues.json. With $FAKE_FORGE_FAIL set, every call fails with it.
"""

import json
import os
import sys
from pathlib import Path


def main() -> None:
    """Record the call, then answer as the real CLI would (see the module docstring)."""
    tool = sys.argv.pop(1)  # gh or glab: the name it was called by
    folder = Path(os.environ["FAKE_FORGE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    args = sys.argv[1:]
    with (folder / "calls.jsonl").open("a") as fh:
        fh.write(json.dumps([tool, *args]) + "\n")
    if os.environ.get("FAKE_FORGE_FAIL"):
        sys.stderr.write(os.environ["FAKE_FORGE_FAIL"] + "\n")
        sys.exit(1)
    requests = folder / "requests.json"
    if args[:2] in (["pr", "list"], ["mr", "list"]):
        print(requests.read_text() if requests.exists() else "[]")
    elif args[:2] in (["pr", "create"], ["mr", "create"]):
        known = json.loads(requests.read_text()) if requests.exists() else []
        url = f"https://forge.example/o/r/pull/{len(known) + 1}"
        key = "url" if tool == "gh" else "web_url"
        requests.write_text(json.dumps([*known, {key: url}]))
        print("Creating pull request...")
        print(url)
    elif args[:2] == ["issue", "list"]:
        print((folder / "issues.json").read_text())
    else:
        sys.stderr.write(f"{tool}: unknown command {' '.join(args)}\n")
        sys.exit(2)


if __name__ == "__main__":  # pytest imports this file when it collects doctests
    main()

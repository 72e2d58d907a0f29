#!/bin/sh
# A fake agent that commits one file on its branch, writes its summary, exits 0.
set -eu
echo "work of $ORCH_WORKER, attempt $ORCH_ATTEMPT" > "work-$ORCH_WORKER.txt"
git add "work-$ORCH_WORKER.txt"
git -c user.name=fake-agent -c user.email=fake@agent.invalid -c commit.gpgsign=false \
  commit -q -m "fake agent: work of $ORCH_WORKER"
printf '{"summary": "%s: wrote work-%s.txt"}\n' "$ORCH_STAGE" "$ORCH_WORKER" > "$ORCH_SIGNAL_FILE"
echo "committed"

#!/bin/sh
# Commits one file on the worker's branch, writes a progress note, then hangs.
# The commit subject is "heal: $HANG_SUBJECT (attempt N)".
set -eu
echo "attempt $ORCH_ATTEMPT of $ORCH_WORKER" >> "heal-$ORCH_WORKER.txt"
git add "heal-$ORCH_WORKER.txt"
git -c user.name=fake-agent -c user.email=fake@agent.invalid -c commit.gpgsign=false \
  commit -q -m "heal: ${HANG_SUBJECT:-some work} (attempt $ORCH_ATTEMPT)"
mkdir -p "$(dirname "$ORCH_PROGRESS_FILE")"
echo "note: ${HANG_SUBJECT:-some work} is committed; next the tests" >> "$ORCH_PROGRESS_FILE"
echo "committed, now hanging"
exec sleep 1000

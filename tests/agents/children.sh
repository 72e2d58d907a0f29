#!/bin/sh
# A fake agent that spawns background children (one in its own session) and
# waits; their pids go to <worktree>/.orch/children.pids, one a line.
set -eu
mkdir -p .orch
sleep 30 &
first=$!
setsid sleep 30 &
second=$!
printf '%s\n%s\n' "$first" "$second" > .orch/children.pids.tmp
mv .orch/children.pids.tmp .orch/children.pids
echo "children: $first $second"
wait

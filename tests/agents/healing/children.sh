#!/bin/sh
# Starts two background sleeps and one in its own session (setsid), records every
# pid (itself first) in .orch/children-<attempt>.pids, then waits for them.
set -eu
mkdir -p .orch
out=".orch/children-$ORCH_ATTEMPT.pids"
own="$PWD/.orch/children-$ORCH_ATTEMPT.own"
echo "$$" > "$out.tmp"
sleep 1000 &
echo "$!" >> "$out.tmp"
sleep 1000 &
echo "$!" >> "$out.tmp"
# the child writes its own pid: setsid may fork, so $! could name the wrong process
setsid sh -c 'echo "$$" > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 1000' sh "$own" &
while [ ! -s "$own" ]; do sleep 0.02; done
cat "$own" >> "$out.tmp"
mv "$out.tmp" "$out"
echo "children started"
wait

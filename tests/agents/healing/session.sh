#!/bin/sh
# The first attempt of a resumable agent: records its prompt, prints some noise
# and $SESSION_LINE (the line its session id is read from), then crashes (exit 3).
set -eu
dir=.orch/received
mkdir -p "$dir"
cat > "$dir/command-$ORCH_ATTEMPT.prompt"
echo "starting up"
printf '%s\n' "$SESSION_LINE"
echo "working..."
echo "crashing on purpose"
exit 3

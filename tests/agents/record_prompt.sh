#!/bin/sh
# A fake agent that records what it received, then hangs: its stdin (the prompt)
# to <worktree>/.orch/received/<stage>-<attempt>.prompt and its arguments, one a
# line, to <worktree>/.orch/received/<stage>-<attempt>.args (.orch/ is excluded
# from git, so the recordings are not "work").
set -eu
dir=.orch/received
mkdir -p "$dir"
cat > "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.prompt.tmp"
: > "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.args.tmp"
for arg in "$@"; do
  printf '%s\n' "$arg" >> "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.args.tmp"
done
mv "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.args.tmp" "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.args"
mv "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.prompt.tmp" "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.prompt"
echo "recorded prompt of $ORCH_STAGE attempt $ORCH_ATTEMPT"
exec sleep 30

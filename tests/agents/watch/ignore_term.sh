#!/bin/sh
# A fake agent that ignores SIGTERM, so stopping it takes the reconciler's whole
# grace period. When a TERM arrives it appends a line to $TERM_MARKER (a file
# outside the worktree), so a test knows the stop has begun.
echo "ignore_term agent: worker $ORCH_WORKER, attempt $ORCH_ATTEMPT"
trap 'echo "TERM $(date +%s)" >> "${TERM_MARKER:-/dev/null}"' TERM
while :; do
  sleep 0.1
done

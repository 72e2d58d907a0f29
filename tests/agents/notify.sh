#!/bin/sh
# A notify command: appends one line (ORCH_* env, then its other arguments) to
# the file named first; then sleeps the seconds named second (0: none), its
# pid written beside the file, like a command that hangs.
out=$1
seconds=$2
shift 2
printf '%s|%s|%s|%s|%s\n' "$ORCH_WORKER" "$ORCH_PHASE" "$ORCH_REASON" "$ORCH_FLEET" "$*" >> "$out"
if [ "$seconds" != 0 ]; then
  echo $$ > "$out.pid"
  exec sleep "$seconds"
fi

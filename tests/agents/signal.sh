#!/bin/sh
# A fake agent that finishes its stage: writes ORCH_SIGNAL_FILE, then exits 0
# (or, with SIGNAL_THEN=sleep, keeps running like an agent that lingers).
set -eu
echo "signal agent: worker $ORCH_WORKER, stage $ORCH_STAGE, attempt $ORCH_ATTEMPT"
mkdir -p "$(dirname "$ORCH_SIGNAL_FILE")"
printf '{"summary": "%s finished"}\n' "$ORCH_STAGE" > "$ORCH_SIGNAL_FILE"
echo "signalled $ORCH_STAGE"
if [ "${SIGNAL_THEN:-exit}" = sleep ]; then
  exec sleep 30
fi

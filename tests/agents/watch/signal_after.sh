#!/bin/sh
# A fake agent that works a moment, writes its stage's signal file, then lingers
# like an agent that does not exit by itself (the reconciler stops it).
# SIGNAL_DELAY: seconds before the signal (default 1).
set -eu
echo "signal_after agent: worker $ORCH_WORKER, stage $ORCH_STAGE, attempt $ORCH_ATTEMPT"
sleep "${SIGNAL_DELAY:-1}"
mkdir -p "$(dirname "$ORCH_SIGNAL_FILE")"
printf '{"summary": "%s finished"}\n' "$ORCH_STAGE" > "$ORCH_SIGNAL_FILE.tmp"
mv "$ORCH_SIGNAL_FILE.tmp" "$ORCH_SIGNAL_FILE"
echo "signalled $ORCH_STAGE"
exec sleep 60

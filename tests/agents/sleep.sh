#!/bin/sh
# A fake agent that works "forever": prints one line, then sleeps (no traps).
echo "sleep agent: worker $ORCH_WORKER, stage $ORCH_STAGE, attempt $ORCH_ATTEMPT"
exec sleep 30

#!/bin/sh
# A fake agent that works "forever" (10 minutes): one line, then silence.
# Reports tests need their workers to stay Running for the whole test.
echo "sleep_long agent: worker $ORCH_WORKER, stage $ORCH_STAGE, attempt $ORCH_ATTEMPT"
exec sleep 600

#!/bin/sh
# Crashes at once: one line of output, exit 3, no signal file.
echo "crash agent: $ORCH_WORKER $ORCH_STAGE attempt $ORCH_ATTEMPT"
exit 3

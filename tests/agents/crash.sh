#!/bin/sh
# A fake agent that crashes at once: exit 3, no signal.
echo "crash agent: attempt $ORCH_ATTEMPT, giving up"
exit 3

#!/bin/sh
# A fake agent that computes silently: one line, then a child busy on the CPU
# for COMPUTE_SECONDS with no output and no files, then the stage's signal.
echo "compute agent: worker $ORCH_WORKER, attempt $ORCH_ATTEMPT"
"$PYTHON" -c '
import sys, time
end = time.time() + float(sys.argv[1])
while time.time() < end:
    pass
' "$COMPUTE_SECONDS"
mkdir -p "$(dirname "$ORCH_SIGNAL_FILE")"
printf '{"summary": "computed"}\n' > "$ORCH_SIGNAL_FILE"

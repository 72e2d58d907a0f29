#!/bin/sh
# A fake agent that cannot do its stage: writes ORCH_FAILED_FILE with a summary, then exits 0.
set -eu
mkdir -p "$(dirname "$ORCH_FAILED_FILE")"
printf '{"summary": "%s"}\n' "${FAIL_SUMMARY:-cannot do it}" > "$ORCH_FAILED_FILE"
echo "wrote $ORCH_FAILED_FILE"

#!/bin/sh
# A stand-in coding agent for the example fleet. It reads its prompt on stdin,
# "works" for DEMO_STEPS seconds, records a note and commits it, then writes
# its stage's signal file: the same contract a real agent follows.
set -eu
prompt=$(cat)
echo "demo agent: worker $ORCH_WORKER, stage $ORCH_STAGE, attempt $ORCH_ATTEMPT"
printf 'prompt begins: %s\n' "$(printf '%s\n' "$prompt" | head -n 1)"
steps=${DEMO_STEPS:-3}
i=1
while [ "$i" -le "$steps" ]; do
  echo "step $i/$steps"
  sleep 1
  i=$((i + 1))
done
mkdir -p "$(dirname "$ORCH_PROGRESS_FILE")" "$(dirname "$ORCH_SIGNAL_FILE")"
echo "- $ORCH_STAGE: finished after $steps steps" >> "$ORCH_PROGRESS_FILE"
echo "$ORCH_STAGE done by $ORCH_WORKER" >> "notes-$ORCH_WORKER.md"
git add "notes-$ORCH_WORKER.md"
git -c user.name=demo-agent -c user.email=demo-agent@localhost commit -q -m "$ORCH_STAGE: demo work"
printf '{"summary": "%s finished"}\n' "$ORCH_STAGE" > "$ORCH_SIGNAL_FILE"
echo "signalled $ORCH_SIGNAL_FILE"

#!/bin/sh
# Records its prompt (stdin) and argv under .orch/received/<stage>-<attempt>.*,
# then acts as the file $HEAL_MODES/<worker>-<stage> says (default: hang):
#   hang: sleep; crash: exit 3; signal: write the stage's .done, then sleep.
set -eu
dir=.orch/received
mkdir -p "$dir"
cat > "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.prompt.tmp"
: > "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.args.tmp"
for arg in "$@"; do
  printf '%s\n' "$arg" >> "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.args.tmp"
done
mv "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.args.tmp" "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.args"
mv "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.prompt.tmp" "$dir/$ORCH_STAGE-$ORCH_ATTEMPT.prompt"
mode=hang
file="${HEAL_MODES:-/nonexistent}/$ORCH_WORKER-$ORCH_STAGE"
if [ -f "$file" ]; then
  mode=$(cat "$file")
fi
echo "flex agent: $ORCH_WORKER $ORCH_STAGE attempt $ORCH_ATTEMPT mode $mode"
case "$mode" in
  crash) exit 3 ;;
  signal)
    mkdir -p "$(dirname "$ORCH_SIGNAL_FILE")"
    printf '{"summary": "%s finished"}\n' "$ORCH_STAGE" > "$ORCH_SIGNAL_FILE"
    exec sleep 1000 ;;
  *) exec sleep 1000 ;;
esac

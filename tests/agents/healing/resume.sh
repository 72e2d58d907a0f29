#!/bin/sh
# The resume argv of a resumable agent: records its arguments (one a line) and
# its stdin under .orch/received/resume-<attempt>.{args,prompt}, then hangs.
set -eu
dir=.orch/received
mkdir -p "$dir"
cat > "$dir/resume-$ORCH_ATTEMPT.prompt.tmp"
: > "$dir/resume-$ORCH_ATTEMPT.args.tmp"
for arg in "$@"; do
  printf '%s\n' "$arg" >> "$dir/resume-$ORCH_ATTEMPT.args.tmp"
done
mv "$dir/resume-$ORCH_ATTEMPT.args.tmp" "$dir/resume-$ORCH_ATTEMPT.args"
mv "$dir/resume-$ORCH_ATTEMPT.prompt.tmp" "$dir/resume-$ORCH_ATTEMPT.prompt"
echo "resumed session $1"
exec sleep 1000

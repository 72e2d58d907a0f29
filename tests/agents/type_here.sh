#!/bin/sh
# A fake interactive agent: its prompt is its last argument, then it reads the
# keyboard (its pane's terminal) and records every line typed.
out="$ORCH_WORKTREE/.orch/typed"
mkdir -p "$out"
for last in "$@"; do :; done
printf '%s' "$last" > "$out/prompt-arg.txt"
echo "type_here: ready"
while IFS= read -r line; do
  printf '%s\n' "$line" >> "$out/lines.txt"
done

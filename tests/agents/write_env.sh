#!/bin/sh
# A fake agent that writes the values of the variables named by its arguments,
# one a line (NAME=value), to <worktree>/.orch/env.seen; it prints only their
# names and lengths (never a value), then sleeps.
set -eu
mkdir -p .orch
: > .orch/env.seen.tmp
for name in "$@"; do
  eval "value=\${$name-}"
  printf '%s=%s\n' "$name" "$value" >> .orch/env.seen.tmp
  echo "write_env agent: $name has ${#value} characters"
done
mv .orch/env.seen.tmp .orch/env.seen
exec sleep 30

#!/bin/sh
# A git that is slow to add one worktree: a stand-in for a slow or hung git call,
# so that a test can catch the reconciler in the middle of a pass. Every call
# runs the real git; `worktree add` of a path containing $SLOW_GIT_MATCH first
# sleeps $SLOW_GIT_SECONDS. GIT_PYTHON_GIT_EXECUTABLE points here.
for arg in "$@"; do
  case "$arg" in
    *"$SLOW_GIT_MATCH"*) case "$*" in *"worktree add"*) sleep "$SLOW_GIT_SECONDS" ;; esac ;;
  esac
done
exec "$REAL_GIT" "$@"

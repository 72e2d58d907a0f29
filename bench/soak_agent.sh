#!/bin/sh
# The fake coding agent of bench/soak.py: real work in its worktree, seeded misbehaviour.
#
#   sh soak_agent.sh MARKER WORKER      (the harness finds agent processes by these two)
#
# Per attempt it commits small files (several commits) and writes untracked
# files in its worktree, then, by a seeded roll: finishes (writes
# $ORCH_SIGNAL_FILE, then exits 0 or lingers), hangs silently (stall), hangs
# ignoring SIGTERM (orch must KILL it after stopGrace), keeps busy forever
# (printing, never done: only the attempt's timeout stops it) or crashes
# (exit 1-3), possibly midway through its work. Every commit sha and every untracked file
# (its blob id, worktree and path) is appended to $SOAK_JOURNAL/<worker>.log,
# outside the worktree, so the harness knows what must survive; so is each
# start of an attempt and each commit that failed (with git's first line).
# It never deletes a file.
#
# Once the file $SOAK_CALM exists (the chaos is over) it misbehaves no more:
# it finishes its work and idles, printing a heartbeat and touching its
# progress notes, so the fleet can settle.
#
# Environment (the Agent spec's env): SOAK_SEED, SOAK_JOURNAL, SOAK_CALM,
# SOAK_P_HANG, SOAK_P_STUBBORN, SOAK_P_BUSY, SOAK_P_CRASH, SOAK_P_LINGER (percentages),
# SOAK_STEP_MS ("min max", milliseconds between steps); and orch's ORCH_*.
set -u
journal="$SOAK_JOURNAL/$ORCH_WORKER.log"
starts=$(grep -c '^start ' "$journal" 2>/dev/null)
key="$SOAK_SEED/$ORCH_WORKER/$ORCH_STAGE/$ORCH_ATTEMPT/${starts:-0}"
printf 'start %s %s %s %s\n' "$ORCH_STAGE" "$ORCH_ATTEMPT" "$$" "$(date +%s)" >> "$journal"

roll() {  # a number from the seed, this attempt and a label: same inputs, same number
  printf '%s/%s' "$key" "$1" | cksum | cut -d' ' -f1
}

nap() {  # sleep a seeded number of milliseconds between SOAK_STEP_MS's bounds
  set -- "$1" $SOAK_STEP_MS
  ms=$(( $2 + $(roll "$1") % ($3 - $2 + 1) ))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
}

calm() { [ -e "$SOAK_CALM" ]; }

commit_one() {  # commit one small new file on the worker's branch; journal its sha
  mkdir -p "soak/$ORCH_WORKER"
  f="soak/$ORCH_WORKER/$ORCH_STAGE-a$ORCH_ATTEMPT-$1-$$.txt"
  printf 'worker %s stage %s attempt %s commit %s pid %s at %s\n' \
    "$ORCH_WORKER" "$ORCH_STAGE" "$ORCH_ATTEMPT" "$1" "$$" "$(date +%s.%N)" > "$f"
  lock="$(git rev-parse --git-dir)/index.lock"
  if [ -e "$lock" ] && [ $(( $(date +%s) - $(stat -c %Y "$lock" 2>/dev/null || date +%s) )) -gt 5 ]; then
    echo "removing a stale $lock (a killed predecessor's)"
    rm -f "$lock"
  fi
  if err=$(git add -- "$f" 2>&1 && git -c user.name=soak-agent -c user.email=soak@agent.invalid \
      -c commit.gpgsign=false commit -q -m "soak: $ORCH_WORKER $ORCH_STAGE#$ORCH_ATTEMPT step $1" 2>&1); then
    sha=$(git rev-parse HEAD) && printf 'commit %s %s %s\n' "$sha" "$ORCH_STAGE" "$ORCH_ATTEMPT" >> "$journal"
    echo "committed $f as $sha"
  else
    why=$(printf '%s\n' "$err" | head -n 1)
    printf 'commitfail %s %s %s\n' "$ORCH_STAGE" "$ORCH_ATTEMPT" "$why" >> "$journal"
    echo "commit of $f failed, going on: $err"
  fi
}

untracked_one() {  # write one untracked file; journal its blob id and path
  mkdir -p scratch
  u="scratch/$ORCH_WORKER-$ORCH_STAGE-a$ORCH_ATTEMPT-$1-$$.txt"
  printf 'untracked note %s of %s, stage %s attempt %s, pid %s at %s\n' \
    "$1" "$ORCH_WORKER" "$ORCH_STAGE" "$ORCH_ATTEMPT" "$$" "$(date +%s.%N)" > "$u"
  blob=$(git hash-object -- "$u") && printf 'file %s %s %s\n' "$blob" "$ORCH_WORKTREE" "$u" >> "$journal"
  echo "wrote untracked $u"
}

idle() {  # the chaos is over: stay alive and visibly busy
  echo "calm: idling"
  while :; do
    echo "idle heartbeat $(date +%s)"
    printf 'idle %s\n' "$(date +%s)" >> "$ORCH_PROGRESS_FILE"
    sleep 3
  done
}

hang() {  # silent: no output, no commit, no progress (a stall)
  while ! calm; do sleep 1; done
  idle
}

busy() {  # output forever, never done: not a stall, only over time
  while ! calm; do echo "still thinking $(date +%s)"; sleep 1; done
  idle
}

misbehave() {
  case "$outcome" in
    hang) echo "hanging silently"; hang ;;
    stubborn) echo "hanging silently, ignoring SIGTERM"; trap '' TERM; hang ;;
    busy) echo "busy forever"; busy ;;
    crash)
      if calm; then idle; fi
      code=$(( 1 + $(roll code) % 3 ))
      echo "crashing with exit $code"
      exit "$code" ;;
  esac
}

p=$(( $(roll outcome) % 100 ))
h=$SOAK_P_HANG; s=$((h + SOAK_P_STUBBORN)); b=$((s + SOAK_P_BUSY)); c=$((b + SOAK_P_CRASH))
if [ "$p" -lt "$h" ]; then outcome=hang
elif [ "$p" -lt "$s" ]; then outcome=stubborn
elif [ "$p" -lt "$b" ]; then outcome=busy
elif [ "$p" -lt "$c" ]; then outcome=crash
else outcome=finish
fi
commits=$(( 2 + $(roll commits) % 3 ))
files=$(( 1 + $(roll files) % 2 ))
at=$(( $(roll at) % (commits + 1) ))  # after how many commits a misbehaviour comes
calm && outcome=finish

echo "soak agent $ORCH_WORKER: stage $ORCH_STAGE attempt $ORCH_ATTEMPT pid $$; plan: $commits commits, $files untracked, then $outcome"
printf '%s attempt %s: %s commits, then %s\n' "$ORCH_STAGE" "$ORCH_ATTEMPT" "$commits" "$outcome" >> "$ORCH_PROGRESS_FILE"
i=1
while [ "$i" -le "$commits" ]; do
  [ "$outcome" != finish ] && [ "$i" -gt "$at" ] && misbehave
  nap "step$i"
  commit_one "$i"
  [ "$i" -le "$files" ] && untracked_one "$i"
  i=$((i + 1))
done
[ "$outcome" != finish ] && misbehave

if calm; then idle; fi
mkdir -p "$(dirname "$ORCH_SIGNAL_FILE")"
printf '{"summary": "%s done by attempt %s"}\n' "$ORCH_STAGE" "$ORCH_ATTEMPT" > "$ORCH_SIGNAL_FILE"
echo "signalled $ORCH_STAGE"
if [ $(( $(roll linger) % 100 )) -lt "$SOAK_P_LINGER" ]; then
  echo "lingering after the signal"
  sleep 600
fi
exit 0

#!/bin/sh
# A fake interactive agent that stops at a first-run question (as a CLI with an
# untrusted folder would) until a person answers, then does its stage.
printf ' Accessing workspace:\n\n Do you trust the files in this folder?\n\n > 1. Yes, proceed\n   2. No, exit\n\n Enter to confirm · Esc to cancel\n'
IFS= read -r answer
printf '\033[2J\033[H'
echo "answered: $answer; working"
[ "$answer" = "1" ] && touch "$ORCH_SIGNAL_FILE"
exec sleep 30

#!/bin/sh
# A fake agent that prints numbered lines, then a last marker line, then hangs.
i=1
while [ "$i" -le "${CHATTY_LINES:-12}" ]; do
  echo "line $i"
  i=$((i + 1))
done
echo "chatty done"
exec sleep 30

#!/bin/sh
# Prints real progress (assistant events) between API-retry events, forever.
i=0
while :; do
  i=$((i + 1))
  printf '{"type":"system","subtype":"api_retry","attempt":%s}\n' "$i"
  printf '{"type":"assistant","message":"step %s: editing parser.py"}\n' "$i"
  sleep 0.1
done

#!/bin/sh
# Only ever prints API-retry events (what an Agent's quietPatterns match), forever.
i=0
while :; do
  i=$((i + 1))
  printf '{"type":"system","subtype":"api_retry","attempt":%s,"error":"overloaded"}\n' "$i"
  sleep 0.1
done

"""The imperative shell of the reconcile loop; it decides nothing.

observe (run the reads) -> core.plan -> apply + start_agent (actions to driver
calls and events) -> publish_report; engine runs one pass, watch keeps going,
operations carries out what a person asks for (restart, cleanup).
"""

"""The functional core: pure data and decisions, no I/O and no clock.

The model of the specs, the observation parsers, the planner, the restart
summary, agent command lines, status rows and the markdown report. Nothing
here runs a process or reads a file; ``now`` is always an argument.
"""

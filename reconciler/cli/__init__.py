"""The `orch` command line: parse arguments, call one function, print, exit."""

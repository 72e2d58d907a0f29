"""`python -m reconciler`: the same as the `orch` command."""

from reconciler.cli import main

main()

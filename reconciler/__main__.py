"""`python -m reconciler`: the same as the `orch` command."""

from reconciler.cli.app import main

main()

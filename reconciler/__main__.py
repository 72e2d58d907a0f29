"""`python -m reconciler`: the same as the `orch` command."""

from reconciler.cli.entry import main

if __name__ == "__main__":
    main()

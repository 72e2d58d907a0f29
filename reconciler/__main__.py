"""`python -m reconciler`: the same as the `orch` command."""

from reconciler.cli.app import main

if __name__ == "__main__":
    main()

"""Data shipped in the package: the example control repo that `orch init` copies."""

# Shortcuts; scripts/setup and scripts/test are the source of truth.
.PHONY: setup test lint fmt typecheck bench soak

setup:
	./scripts/setup

test:
	./scripts/test

lint:
	.venv/bin/ruff check reconciler tests bench
	.venv/bin/lint-imports --no-cache

fmt:
	.venv/bin/ruff format reconciler tests bench
	.venv/bin/ruff check --fix reconciler tests bench

typecheck:
	.venv/bin/mypy

bench:
	.venv/bin/python bench/cli_startup.py
	.venv/bin/python bench/reconcile.py
	.venv/bin/python bench/hook_latency.py
	.venv/bin/python bench/run_reports.py
	.venv/bin/python bench/backups.py
	.venv/bin/python bench/repos.py
	.venv/bin/python bench/dashboard.py
	.venv/bin/python bench/cpu_sweep.py

soak:
	.venv/bin/python bench/soak.py --workers 30 --minutes 10

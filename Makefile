# The two commands a newcomer needs (README): `make demo` and `make test`.
# Both run the idempotent host setup first (root: apt packages, venv, libvirtd).
VENV := .venv/bin
SETUP := scripts/setup-host
PYTEST_ARGS ?=

.PHONY: setup demo test lint typecheck unit e2e bench

setup:
	@$(SETUP)

demo: setup
	$(VENV)/zcompute demo

test: setup
	$(VENV)/ruff check src tests benchmarks
	$(VENV)/ruff format --check src tests benchmarks
	$(VENV)/mypy
	$(VENV)/pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

unit: setup
	$(VENV)/pytest -n 2 -m "not e2e" $(PYTEST_ARGS)

e2e: setup
	$(VENV)/pytest -n 2 --dist loadgroup -m e2e $(PYTEST_ARGS)

bench: setup
	$(VENV)/pip install -q -e ".[dev,bench]"
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

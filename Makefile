# Thin wrappers; the scripts are the source of truth (see README).
SHELL := /bin/bash
PY    := .venv/bin/python
LINT_PATHS ?= src tests benchmarks

.PHONY: run test lint fmt bench venv

venv:
	@bash -c 'source scripts/_lib.sh && ensure_venv'

run:
	bash scripts/run.sh $(ARGS)

test:
	bash scripts/test.sh $(ARGS)

lint: venv
	$(PY) -m ruff check $(LINT_PATHS)
	$(PY) -m ruff format --check $(LINT_PATHS)
	$(PY) -m mypy

fmt: venv
	$(PY) -m ruff check --fix $(LINT_PATHS)
	$(PY) -m ruff format $(LINT_PATHS)

bench: venv
	@set -e; found=0; \
	for f in benchmarks/*.py; do \
	  [ -e "$$f" ] || continue; \
	  case "$$(basename "$$f")" in _*|conftest.py) continue;; esac; \
	  found=1; echo "== $$f --smoke"; $(PY) "$$f" --smoke; \
	done; \
	[ $$found = 1 ] || echo "no benchmarks/*.py scripts found"

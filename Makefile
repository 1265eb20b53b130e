# nanochat.remote_gpu — one entry point for tests, demo and benchmarks.
#   make test    install what is missing, then pytest (unit + integration), ansible-test sanity,
#                ansible-lint (production profile)
#   make demo    the whole flow against a simulated cloud on this machine (no account needed);
#                PROVIDER=lambda or PROVIDER=vastai for the other providers
#   make bench   the benchmark scripts under bench/ (they print their figures)

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export VENV PYTHON

.PHONY: test deps unit integration pytest sanity lint demo bench clean
PROVIDER ?= runpod

test: deps pytest sanity lint

deps:
	@tests/setup/install-deps.sh

pytest:
	$(BIN)/python -m pytest

unit:
	$(BIN)/python -m pytest tests/unit

integration:
	$(BIN)/python -m pytest tests/integration

sanity:
	$(BIN)/python tests/sanity/run_sanity.py

lint:
	$(BIN)/ansible-lint

demo: deps
	$(BIN)/python -m tests.support.demo --provider $(PROVIDER)

bench: deps
	$(BIN)/python bench/api_wait.py
	$(BIN)/python bench/inventory.py
	$(BIN)/python bench/bootstrap.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/faults.py
	$(BIN)/python bench/chat.py
	$(BIN)/python bench/push.py
	$(BIN)/python bench/fetch.py

clean:
	rm -rf $(VENV) .cache tests/output .pytest_cache

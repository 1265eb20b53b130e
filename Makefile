# nanochat.remote_gpu — one entry point for tests, demo and benchmarks.
#   make test    install what is missing, then on both ansible-core lines (2.19 in .venv on
#                Python 3.11, the newest in .venv-latest on Python 3.13): pytest (unit +
#                integration), ansible-test sanity (every claimed module Python), ansible-lint
#                (production profile). Two jobs at once: the 2.19 line's whole pytest, and
#                beside it the two lines' sanity + lint, then the newest line's pytest (every unit
#                test, the integration tests marked newest_line). The two pytest runs may overlap:
#                each has its own temp dir and loopback range, ports are picked free, Unix users
#                are named at random.
#   make demo    the whole flow against a simulated cloud on this machine (no account needed);
#                PROVIDER=lambda or PROVIDER=vastai for the other providers
#   make bench   the benchmark scripts under bench/ (they print their figures)
#   make unit / integration / pytest / sanity / lint   one part on one line (VENV=.venv-latest
#                for the newest ansible-core)

PYTHON ?= python3
VENV ?= $(CURDIR)/.venv
VENV_LATEST ?= $(CURDIR)/.venv-latest
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export VENV VENV_LATEST PYTHON

.PHONY: test deps unit integration pytest sanity lint demo bench clean \
	checks pytest-stable pytest-latest checks-stable checks-latest
PROVIDER ?= runpod
# 1: the newest line runs every unit test and the integration tests marked newest_line (the
# installed tarball, train.yml end to end on RunPod); 0: all of them, as the 2.19 line does.
PYTEST_LATEST_SUBSET ?= 1
# e.g. PYTEST_LATEST_ARGS='-k "not train"' to run a subset on the newest line (default: all)
PYTEST_LATEST_ARGS ?=

test: deps
	@$(MAKE) --no-print-directory -j2 --output-sync=target pytest-stable checks

checks:
	@$(MAKE) --no-print-directory checks-latest
	@$(MAKE) --no-print-directory checks-stable
	@$(MAKE) --no-print-directory pytest-latest

pytest-stable:
	@echo "== pytest, ansible-core $$($(VENV)/bin/ansible --version 2>/dev/null | head -n1)"
	@start=$$(date +%s); PATH=$(VENV)/bin:$$PATH $(VENV)/bin/python -m pytest -p no:cacheprovider --basetemp=$${TMPDIR:-/tmp}/nrg-pytest-stable --durations=25; rc=$$?; \
	echo "== pytest (2.19 line) took $$(( $$(date +%s) - start )) s"; exit $$rc
pytest-latest:
	@echo "== pytest, ansible-core $$($(VENV_LATEST)/bin/ansible --version 2>/dev/null | head -n1)"
	@start=$$(date +%s); NRG_TEST_LOOPBACK_FIRST=130 NRG_TEST_NEWEST_LINE=$(PYTEST_LATEST_SUBSET) PATH=$(VENV_LATEST)/bin:$$PATH $(VENV_LATEST)/bin/python -m pytest -p no:cacheprovider --basetemp=$${TMPDIR:-/tmp}/nrg-pytest-latest --durations=25 $(PYTEST_LATEST_ARGS); rc=$$?; \
	echo "== pytest (newest line) took $$(( $$(date +%s) - start )) s"; exit $$rc
checks-stable:
	@start=$$(date +%s); PATH=$(VENV)/bin:$$PATH $(VENV)/bin/python tests/sanity/run_sanity.py && \
	echo "== sanity (2.19 line) took $$(( $$(date +%s) - start )) s" && start=$$(date +%s) && \
	(cd $(CURDIR) && PATH=$(VENV)/bin:$$PATH $(VENV)/bin/ansible-lint) && \
	echo "== ansible-lint (2.19 line) took $$(( $$(date +%s) - start )) s"
checks-latest:
	@start=$$(date +%s); PATH=$(VENV_LATEST)/bin:$$PATH $(VENV_LATEST)/bin/python tests/sanity/run_sanity.py && \
	echo "== sanity (newest line) took $$(( $$(date +%s) - start )) s" && start=$$(date +%s) && \
	(cd $(CURDIR) && PATH=$(VENV_LATEST)/bin:$$PATH $(VENV_LATEST)/bin/ansible-lint) && \
	echo "== ansible-lint (newest line) took $$(( $$(date +%s) - start )) s"

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
	rm -rf $(VENV) $(VENV_LATEST) .cache tests/output .pytest_cache

# Every target bootstraps .venv from the pinned constraints by itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
UP_ARGS ?=

.PHONY: up test lint browser fuzz format bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

up: $(STAMP)
	$(BIN)/faasq up $(UP_ARGS)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint browser
	$(BIN)/pytest -n auto --dist loadgroup --cov --cov-report=term $(PYTEST_ARGS)

# The HTTP API fuzzed much longer than in make test, and the input parsers' properties on many more examples.
fuzz: $(STAMP)
	FAASQ_FUZZ_EXAMPLES=$${FAASQ_FUZZ_EXAMPLES:-300} $(BIN)/pytest -p no:cacheprovider --hypothesis-profile=fuzz \
	  tests/e2e/test_fuzz.py tests/unit/test_input_properties.py

# The dashboard's browser tests drive the system's Chromium: installed here when missing and allowed (root, apt).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the dashboard's browser tests" && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "make test needs Chromium for the dashboard's browser tests: install it (sudo apt-get install -y chromium) and run make test again" >&2; \
	    exit 1; \
	  fi; }

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/watchdog_fork.py
	$(BIN)/python bench/enqueue.py
	$(BIN)/python bench/worker.py
	$(BIN)/python bench/replicas.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .coverage .coverage.*

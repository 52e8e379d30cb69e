# The verbs people type. `make run` and `make test` work on a fresh clone of a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO := .demo

.PHONY: run test lint bench package system-deps clean

# Quiet steps for `make run`: pip shows errors only (-qq), not warnings or setuptools' notes.
$(BIN)/.installed: pyproject.toml
	@echo "Installing into $(VENV)/ (a few minutes the first time)"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -qq --upgrade pip
	@$(BIN)/pip install -qq -e '.[dev]'
	@touch $@

system-deps:
	bash build/install-system-deps.sh

$(DEMO)/stash-go.sqlite: $(BIN)/.installed
	@$(BIN)/stash-dedupe demo-library $(DEMO) >/dev/null
	@echo "Demo library made in $(DEMO)/ (its own settings and journal in $(DEMO)/app-home)"

run: $(BIN)/.installed $(DEMO)/stash-go.sqlite
	@STASH_DEDUPE_HOME="$(abspath $(DEMO))/app-home" $(BIN)/stash-dedupe --db $(DEMO)/stash-go.sqlite

test: $(BIN)/.installed system-deps
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench

bench: $(BIN)/.installed
	$(BIN)/python bench/bench_grouping.py

package: $(BIN)/.installed system-deps
	bash build/build.sh --onedir

clean:
	rm -rf $(VENV) $(DEMO) dist build/work

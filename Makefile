# `make demo` runs the pipeline, `make test` runs the tests; both install first.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
INSTALLED := $(VENV)/.installed
PLOTS_PAGE := .dvc/plots/offline.html
UI_PORT ?= 5000

# Stage commands call `python`: the venv's. No usage telemetry leaves this machine.
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: install demo test test-fast ui lint clean

install: $(INSTALLED) $(PLOTS_PAGE)

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# `dvc plots show` draws offline: the page DVC writes carries vega, vega-lite and vega-embed
# (the npm packages pinned in .dvc/plots/package-lock.json, in .dvc/plots/node_modules/).
$(PLOTS_PAGE): .dvc/plots/package.json .dvc/plots/package-lock.json .dvc/plots/offline_page.py
	@command -v npm >/dev/null || { echo "make install: npm not found: install Node.js and npm (Debian: apt-get install npm)" >&2; exit 1; }
	npm ci --prefix .dvc/plots --no-audit --no-fund --loglevel=error
	$(PYTHON) .dvc/plots/offline_page.py

demo: install
	dvc repro
	@echo
	@tie show
	@echo
	@echo "Runs are in MLflow: open the UI with 'make ui' (http://127.0.0.1:$(UI_PORT))"

# Two workers, a test file each at a time (its module fixtures stay on one worker).
test: install
	pytest -n 2 --dist loadfile

# Everything but the end-to-end runs of DVC and MLflow and the slow unit tests.
test-fast: install
	pytest -n 2 --dist loadfile -m 'not e2e and not slow'

ui: install
	tie ui --port $(UI_PORT)

lint: install
	ruff check src stages tests benchmarks

clean:
	rm -rf $(VENV) .dvc/plots/node_modules $(PLOTS_PAGE)

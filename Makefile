# Two entry points: `make demo` and `make test`. Each creates .venv when missing and installs
# the project (with test extras) only when pyproject.toml changed since the last install.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= demo-out
DEMO_PATIENTS ?= 20000

.PHONY: demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(DEMO_DIR)
	$(BIN)/p4p demo --patients $(DEMO_PATIENTS) --seed 42 --out $(DEMO_DIR)

# --dist loadscope keeps each test module on one worker, so a module fixture (a Spark session and
# its synthetic world, a Spark Connect server) is built once, not once per worker.
test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadscope -q --durations=10

bench: $(STAMP)
	$(BIN)/python bench/synth.py

clean:
	rm -rf $(DEMO_DIR) .pytest_cache

# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
WORLD  := var/world.csv
SB     := $(BIN)/southbound

.PHONY: install demo test bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded defaults: a generated 120-day world, a model trained
# on its first 90 days, evaluated on the last 30 against the generator's truth,
# then every outbound crossing scored.
demo: install
	$(SB) generate --days 120 --seed 7 --out $(WORLD)
	$(SB) train --data $(WORLD) --until 2025-04-06 --promote
	$(SB) evaluate --data $(WORLD) --since 2025-04-06 --truth var/world.truth.csv --out var/evaluation.json
	$(SB) score --data $(WORLD) --out var/scores.csv
	$(SB) models list

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/bench_pipeline.py

clean:
	rm -rf var .pytest_cache

# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
WORLD  := var/world.csv
SB     := $(BIN)/southbound
PORT   ?= 8000

.PHONY: wrk bench-service install parts demo test audit bench clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The main job on the embedded defaults: its own model-signing key pair (var/keys, made
# once), a generated 120-day world, a model trained
# on its first 90 days, evaluated on the last 30 against the generator's truth,
# every outbound crossing scored; then the service on http://127.0.0.1:8000
# (SQLite store var/southbound.db) with a printed officer token. Ctrl-C stops it.
# PORT=8001 make demo serves elsewhere; a port already taken stops it before any work.
demo: install
	$(SB) serve --host 127.0.0.1 --port $(PORT) --check
	$(SB) keys create --if-missing
	$(SB) generate --days 120 --seed 7 --out $(WORLD)
	$(SB) train --data $(WORLD) --until 2025-04-06 --promote
	$(SB) evaluate --data $(WORLD) --since 2025-04-06 --truth var/world.truth.csv --out var/evaluation.json
	$(SB) report --data $(WORLD) --since 2025-04-06 --out var/report.html
	$(SB) score --data $(WORLD) --out var/scores.csv
	$(SB) models list
	$(SB) replay --data $(WORLD) --since 2025-05-03 --truth var/world.truth.csv
	@$(SB) tokens create --role officer --name demo-officer | tail -n 1 > var/officer.token
	@echo
	@echo "officer token: $$(cat var/officer.token)"
	@echo "score a crossing:  curl -s -X POST http://127.0.0.1:$(PORT)/v1/score \\"
	@echo "  -H \"Authorization: Bearer $$(cat var/officer.token)\" -H 'Content-Type: application/json' \\"
	@echo "  -d '{\"crossing_id\":\"demo-1\",\"crossed_at\":\"2025-05-01T17:22:05-05:00\",\"direction\":\"outbound\",\"port_code\":\"2304\",\"vehicle_class\":\"personal\",\"plate_id\":\"P1\"}'"
	@echo
	$(SB) serve --host 127.0.0.1 --port $(PORT) --workers 2

# What the suite needs beyond Python: Debian's chromium for the console's browser tests
# (Playwright drives it; no browser is downloaded). Installed here where we are root;
# elsewhere the target stops and says what to install.
CHROMIUM := /usr/bin/chromium
parts:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "make test: Debian's chromium is missing ($(CHROMIUM)), the browser tests need it:" \
	         "run 'sudo apt-get install chromium' (or SOUTHBOUND_TEST_SKIP_MISSING=1 make test" \
	         "to skip those tests)" >&2; \
	    [ "$$SOUTHBOUND_TEST_SKIP_MISSING" = 1 ]; \
	  fi; \
	fi

# One pytest worker per core (pytest-xdist), a test file at a time on a worker, so a
# module's fixtures (a server, a cluster) are built once; tests/conftest.py gives each
# worker one OpenMP/BLAS thread. `pytest` alone runs the same suite in one process.
test: install parts
	$(BIN)/python -m pytest -n auto --dist loadfile

# Known vulnerabilities in every installed package (Southbound itself, installed
# editable, is skipped) from PyPI's vulnerability data. --strict: a package that
# cannot be looked up (service unreachable, or a mirror without the per-version
# JSON API) fails the audit; without it pip-audit skips it and still exits 0.
# No --ignore-vuln: add one only with the advisory id and the reason beside it.
# AUDIT_SERVICE=osv queries osv.dev instead.
AUDIT_SERVICE ?= pypi
audit: install
	$(BIN)/pip-audit --skip-editable --strict --progress-spinner off \
	  --vulnerability-service $(AUDIT_SERVICE) --desc off

bench: install
	$(BIN)/python benchmarks/bench_pipeline.py

# The load tests drive the service with Debian's wrk (loopback only, bounded in time)
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "the load benchmarks need Debian's wrk: sudo apt-get install wrk" >&2; exit 1; fi; }

bench-service: install wrk
	$(BIN)/python benchmarks/bench_service.py
	$(BIN)/python benchmarks/bench_shadow.py

clean:
	rm -rf var .pytest_cache

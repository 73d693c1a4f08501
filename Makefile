# OneMap — the two set-up commands are `make run` and `make test`.
# Everything installs into .venv inside the repository; system packages (for
# tests) come from apt-get. Targets are idempotent: a second run skips what is done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA_DIR ?= $(if $(ONEMAP_DATA_DIR),$(ONEMAP_DATA_DIR),data/build)
SCALE  ?= 1.0
SEED   ?= 42
HOST   ?= 127.0.0.1
PORT   ?= 8000
APT_PACKAGES := gdal-bin postgresql-15-postgis-3 chromium fonts-wqy-zenhei python3-qgis qgis-providers \
                mosquitto

.PHONY: run test install install-test system-deps demo lint typecheck pytest bench bench-scale \
        loadtest clean help packs fuzz triage-model run-deps

help:
	@echo "make run    - install, build the demo data if absent, serve on http://$(HOST):$(PORT)"
	@echo "make test   - install test tools and system packages, lint, type-check, run the suite"
	@echo "make bench  - full-scale benchmarks; writes bench/results/latest.md"
	@echo "make demo   - (re)build the demo data (SCALE=$(SCALE) SEED=$(SEED))"
	@echo "make fuzz   - schemathesis campaign on both OpenAPI documents (FUZZ_EXAMPLES=$(FUZZ_EXAMPLES))"

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# The viewer's JavaScript (MapLibre GL JS, pmtiles, Leaflet for reports) from the npm
# registry, served by our server at /viewer/vendor; nothing is loaded from a CDN.
VIEWER_NPM := viewer/node_modules/.package-lock.json
$(VIEWER_NPM): viewer/package.json viewer/package-lock.json
	@command -v npm >/dev/null || { \
	  echo "installing Node.js and npm (Debian packages) for the viewer"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends nodejs npm; }
	cd viewer && npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed $(VIEWER_NPM)

install-test: $(VENV)/.installed-test $(VIEWER_NPM)

# System packages the tests use with real clients (GDAL's ogrinfo, PostGIS, Chromium for
# the viewer's browser tests, a CJK font for its screenshots).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(DATA_DIR)/onemap.gpkg: | $(VENV)/.installed
	$(BIN)/onemap demo build --scale $(SCALE) --seed $(SEED) --data-dir $(DATA_DIR)

demo: install
	$(BIN)/onemap demo build --scale $(SCALE) --seed $(SEED) --data-dir $(DATA_DIR)

# Offline basemap packs of the district and every subdistrict (served at /packs). `make run`
# needs none: the server builds missing or stale ones in the background (docs/tiles.md).
packs: install $(DATA_DIR)/onemap.gpkg
	$(BIN)/onemap tiles packs-all --data-dir $(DATA_DIR)

# The triage model (docs/dispatch.md), trained once from a seeded sample of the demo's
# history when none is beside the store; `onemap dispatch train` retrains on all of it.
TRIAGE_SAMPLE ?= 40000
triage-model: install $(DATA_DIR)/onemap.gpkg
	@ls $(DATA_DIR)/dispatch/model-v*.joblib >/dev/null 2>&1 || \
	  $(BIN)/onemap dispatch train --limit $(TRIAGE_SAMPLE) --data-dir $(DATA_DIR)

# What the server itself needs from Debian: Mosquitto, the embedded MQTT broker it starts
# for the sensors (docs/perception.md); without it the server runs with HTTP readings only.
run-deps:
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES=mosquitto

run: install run-deps $(DATA_DIR)/onemap.gpkg triage-model
	$(BIN)/onemap serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

lint: install-test
	$(BIN)/ruff check .

typecheck: install-test
	$(BIN)/mypy gis layers tiles address spatial_api data bench viewer

pytest: install-test system-deps
	$(BIN)/python -m pytest -q

test: lint typecheck pytest

# A longer schemathesis campaign than the test suite's: every operation of both OpenAPI
# documents, public and with a key, FUZZ_EXAMPLES examples per operation.
FUZZ_EXAMPLES ?= 50
fuzz: install-test
	ONEMAP_FUZZ_FULL=1 ONEMAP_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q -s tests/test_fuzz.py

# The OGC benchmark's anchor: pygeoapi's stock GeoPackage provider, which needs SQLite
# extension loading (SpatiaLite). The pyenv Python cannot load extensions, Debian's can,
# so the anchor runs in its own virtual environment on /usr/bin/python3.
STOCK_VENV := .venv-stock
$(STOCK_VENV)/.installed:
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	dpkg -s libsqlite3-mod-spatialite python3-venv >/dev/null 2>&1 || { \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --no-install-recommends libsqlite3-mod-spatialite python3-venv; }
	/usr/bin/python3 -m venv $(STOCK_VENV)
	$(STOCK_VENV)/bin/python -m pip install --quiet pygeoapi==0.21.0 uvicorn starlette
	touch $@

# The bench builds its own full-scale copy (the build time is its first figure).
# City scale (docs/scale.md): build, PostGIS load and Dask aggregates for growing areas;
# writes bench/results/scale.md and scale.png. Not part of `make test`.
SCALE_BENCH ?= 0.05
bench-scale: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.bench_scale --scale $(SCALE_BENCH) --seed $(SEED)

# The PostGIS benchmark's anchor (bench/bench_tipg.py): tipg 1.6 from PyPI in its own
# virtual environment, served against the same PostGIS database as OneMap.
TIPG_VENV := .venv-tipg
$(TIPG_VENV)/.installed:
	$(PYTHON) -m venv $(TIPG_VENV)
	$(TIPG_VENV)/bin/python -m pip install --quiet 'tipg==1.6.*' uvicorn
	touch $@

bench: install $(STOCK_VENV)/.installed $(TIPG_VENV)/.installed
	@$(MAKE) --no-print-directory system-deps APT_PACKAGES=postgresql-15-postgis-3
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	ONEMAP_BENCH_STOCK_PYTHON=$(STOCK_VENV)/bin/python \
	ONEMAP_BENCH_TIPG_PYTHON=$(TIPG_VENV)/bin/python \
	  $(BIN)/python -m bench --scale $(SCALE) --seed $(SEED)

# Bounded load test (issue 16; README "Performance"): Locust, headless, 127.0.0.1 only,
# LOAD_USERS users for LOAD_TIME seconds. Uses a server already answering on LOAD_PORT,
# else starts `onemap serve --workers LOAD_WORKERS` on data/build (`make demo` first) and
# stops it after. Readings are posted, so the store receives writes. Not part of `make test`.
LOAD_USERS ?= 64
LOAD_TIME ?= 60
LOAD_PORT ?= $(PORT)
LOAD_WORKERS ?= 2
loadtest: install
	$(BIN)/python -m pip install --quiet -e '.[load]'
	$(BIN)/python -m bench.loadtest --users $(LOAD_USERS) --time $(LOAD_TIME) \
	  --port $(LOAD_PORT) --workers $(LOAD_WORKERS) --data-dir data/build

clean:
	rm -rf $(VENV) $(STOCK_VENV) $(TIPG_VENV) .pytest_cache .mypy_cache .ruff_cache

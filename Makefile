# Two commands: `make run` serves the app (with the demo data on a fresh machine), `make test` runs every test.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
ADDRESS ?= 0.0.0.0
SYSTEM_PYTHON ?= python3

.PHONY: run test demo system-deps clean bench

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(SYSTEM_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Debian packages the tests use: chromium for the browser tests and PDF reports, PostgreSQL for the SQL layer
# checks, poppler-utils (pdfinfo, pdftoppm) to look inside the PDF reports.
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v pdftoppm >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium postgresql poppler-utils >/dev/null; \
	fi

demo: $(VENV)/.installed
	$(PY) -m delivery_health demo --if-empty

run: demo
	$(PY) -m delivery_health serve --port $(PORT) --address $(ADDRESS)

test: $(VENV)/.dev-installed system-deps
	$(PY) -m pytest -q

# Scale and speed: 100k and 1M issues on DuckDB (and PostgreSQL), figures in artifacts/bench/. Flags: BENCH_ARGS="--quick".
bench: $(VENV)/.dev-installed system-deps
	$(PY) -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) data/delivery_health.duckdb data/demo_exports

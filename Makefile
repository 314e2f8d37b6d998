# Two commands on a fresh machine: `make run` starts the product, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
FLAG_STAMP := $(VENV)/.installed-flag

.PHONY: run test install install-flag lint bench bench-quick clean screenshots

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): $(PY) pyproject.toml
	$(PIP) install -q -e ".[dev]"
	@touch $(STAMP)

# The torch-based parts (BGE-M3, rerankers) are an extra. torch first, pinned: 2.13.0 is a local CPU
# wheel on these machines; any other torch request pulls gigabytes of CUDA packages.
$(FLAG_STAMP): $(STAMP)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[dev,flag]"
	@touch $(FLAG_STAMP)

install: $(STAMP)

install-flag: $(FLAG_STAMP)

run: $(STAMP)
	$(VENV)/bin/larkdesk serve

test: $(FLAG_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The README's pictures of the simulator page, retaken by the Chromium tests (needs Debian's chromium).
screenshots: $(STAMP)
	LARKDESK_SCREENSHOTS=docs/img $(VENV)/bin/pytest tests/browser -q

bench: $(STAMP)
	$(PY) benchmarks/ingress.py
	$(PY) benchmarks/freshness.py
	$(PY) benchmarks/retrieval_scale.py
	$(PY) benchmarks/chaos.py

# Every benchmark's short mode (seconds each; CI runs them through tests/reliability/test_benchmarks_quick.py).
bench-quick: $(STAMP)
	for b in ingress desk freshness chat_api retrieval_scale hostile chaos; do $(PY) benchmarks/$$b.py --quick || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

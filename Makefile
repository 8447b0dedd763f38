# make demo | make test | make bench  — each creates .venv and installs what it needs when missing.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
# torch is pinned to the local CPU wheel; any unpinned torch would pull a multi-GB CUDA build.
CONSTRAINTS := constraints.txt

.PHONY: demo test test-gpu mutants lint bench bench-full clean browser wrk

$(VENV)/.dev-installed: pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24" wheel setuptools
	$(PIP) install -q -c $(CONSTRAINTS) torch==2.13.0
	# The official fastText (the tests' oracle) builds from source; its setup.py needs pybind11
	# present, so it builds without isolation (about 2 minutes once; pip caches the wheel).
	$(PIP) install -q -c $(CONSTRAINTS) pybind11 numpy
	$(PIP) install -q -c $(CONSTRAINTS) --no-build-isolation fasttext
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $@

$(VENV)/.bench-installed: $(VENV)/.dev-installed
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[bench]"
	touch $@

demo: $(VENV)/.dev-installed
	$(VENV)/bin/vecsmith demo

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check src tests benchmarks examples

# tests/serve drives Debian's chromium headless: installed here when root and missing (the
# test skips, saying why, where it cannot be installed)
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } \
	  || echo "chromium not installed: the browser test will skip"

test: lint browser
	$(PY) -m pytest -q -n 2 --dist loadfile

# On a CUDA machine, after installing a CUDA build of torch (see benchmarks/gpu_check.sh).
test-gpu: $(VENV)/.dev-installed
	PYTHON=$(PY) bash benchmarks/gpu_check.sh

# Plant each curated bug in a temporary copy and check a test fails (RESULTS.md: ~20 min).
mutants: $(VENV)/.dev-installed
	$(PY) benchmarks/mutants.py

# bench_serve's load client is Debian's wrk: installed here when root and missing (the script
# falls back to an httpx client, and says so, without it)
wrk:
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk; } \
	  || echo "wrk not installed: bench_serve falls back to its httpx client"

bench: $(VENV)/.bench-installed wrk
	@test -f /usr/share/dictd/gcide.dict.dz || echo "benchmarks/bench_compress.py trains on Debian's text: apt-get install dict-gcide dict-wn"
	$(PY) benchmarks/run_all.py

bench-full: $(VENV)/.bench-installed wrk
	$(PY) benchmarks/run_all.py --full

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache

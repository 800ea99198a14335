# Two commands from a fresh clone: `make demo` and `make test` (see README).
# Both create .venv with Python >= 3.12 (found by tools/find_python.sh), install the
# package with its dev and analysis extras, and put Solara's browser bundle where its offline CDN
# proxy looks for it (tools/install_solara_assets.py), so nothing is fetched at run time.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test viz bench clean

$(STAMP): Makefile pyproject.toml tools/find_python.sh $(wildcard tools/install_solara_assets.py)
	@set -e; \
	if ! [ -x $(PY) ] || ! $(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then \
	  python=$$(tools/find_python.sh); \
	  echo "Creating $(VENV) with $$python ($$($$python --version))"; \
	  rm -rf $(VENV); $$python -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,analysis]'
	@if [ -f tools/install_solara_assets.py ]; then $(PY) tools/install_solara_assets.py; fi
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(PY) -m marketsim run baseline

test: setup
	$(PY) -m pytest

viz: setup
	$(PY) -m marketsim viz

# one run at 16 ... 50,000 firms against a bare Mesa loop, then a 200-run sweep on 1 and 2 processes
# and Dask, then two Sobol studies (160 and 640 runs, with their reports) projected to 10,000 runs;
# the tables go to benchmarks/results/latest.md (tens of minutes on 2 cores)
bench: setup
	$(PY) benchmarks/bench_model.py
	$(PY) benchmarks/bench_fixed_step.py
	$(PY) benchmarks/bench_sweep.py
	$(PY) benchmarks/bench_study.py
	$(PY) benchmarks/latest.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

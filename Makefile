# GridLedger: the two commands of the README.
#   make up    installs into .venv and starts the default network with the console
#   make test  installs (with test extras) into .venv, runs ruff and mypy --strict, then every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DATA   ?= data
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: up test lint install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

up: install
	$(BIN)/gridledger up --data $(DATA) --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check ledger chaincode webapp tests
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/gridledger bench --data bench-data --report artifacts/bench

clean:
	rm -rf $(VENV) artifacts bench-data

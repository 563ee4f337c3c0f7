# One-command set-up: every target creates .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The PC/SC extra builds pyscard from source against libpcsclite; add it when the library is there.
PCSC_EXTRA := $(shell pkg-config --exists libpcsclite 2>/dev/null && echo ",pcsc")

.PHONY: demo test lint typecheck unit slow browser wheels lowest image wheelhouse bench readme clean

# The ui extra (segno) draws the SBP QR on the virtual terminal page.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[ui]"
	touch $@

# python-emv (emvtool) reads the virtual cards through pcscd in the PC/SC tests.
# It pins pyscard 2.0.0 and click 7, so it gets a venv of its own, like a tool
# a bench user installs apart; it builds pyscard too, so only with libpcsclite.
EMV_VERSION := 1.0.14

$(BIN)/.installed-test: pyproject.toml $(BIN)/.installed
	$(BIN)/pip install -q -e ".[test$(PCSC_EXTRA)]"
	$(if $(PCSC_EXTRA),$(PYTHON) -m venv $(VENV)/emvtool && \
		$(VENV)/emvtool/bin/pip install -q "emv==$(EMV_VERSION)")
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m tools.demo

lint: $(BIN)/.installed-test
	$(BIN)/ruff check base cardcore hal kernel acquirers simulators tests tools firmware
	$(BIN)/ruff format --check base cardcore hal kernel acquirers simulators tests tools firmware
	$(BIN)/mypy

# Two workers (the machines have two cores); the tests that start the one
# private pcscd run after them, on their own.
unit: $(BIN)/.installed-test
	$(BIN)/pytest -q -n 2 -m "not pcsc and not slow and not browser"
	$(BIN)/pytest -q -m "pcsc and not slow"

# The benchmarks' smoke runs and the instruction count (valgrind): long, so
# not in `make unit`; `make test` (and so CI) runs them.
slow: $(BIN)/.installed-test
	$(BIN)/pytest -q -m "slow and not image"

# The virtual terminal page in Debian's chromium (chromium, chromium-driver
# and zbar-tools: .ci/run installs them). CARDCORE_SCREENSHOTS=DIR keeps the
# screenshots.
browser: $(BIN)/.installed-test
	$(BIN)/pytest -q -m browser tests/browser

# Every runtime dependency as binary wheels for x86_64 and aarch64 Linux and
# each supported Python (tools/wheels.py; asks PyPI, so it needs the network).
wheels: $(BIN)/.installed
	$(BIN)/python -m tools.wheels

# The dependency floors of pyproject.toml, installed and tried (uv, lowest-direct).
lowest:
	PYTHON=$(PYTHON) tools/ci/lowest-deps.sh

# The terminal image: install.sh into a fresh prefix and into a Debian 12 root
# made by debootstrap (as root; downloads the packages).
image: $(BIN)/.installed-test
	$(BIN)/pytest -q -m image

# Every wheel the terminal image needs (install.sh --wheelhouse dist/wheelhouse).
wheelhouse:
	tools/deploy/install.sh --build-wheelhouse dist/wheelhouse --python $(PYTHON)

test: lint unit slow browser wheels lowest image

bench: $(BIN)/.installed
	$(BIN)/cardcore-bench

# The README's configuration reference, written from the model (tests check it).
readme: $(BIN)/.installed
	$(BIN)/python -c "from cardcore.configdoc import update_readme; update_readme()"

clean:
	rm -rf $(VENV) .venv-lowest .mypy_cache .pytest_cache .ruff_cache .hypothesis

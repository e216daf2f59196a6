# The course's single entry point (see README.md):
#   make course   set up .venv, build the sample world, execute every notebook, build the book
#   make test     set up .venv and Debian's chromium, run every test (what .ci/run calls)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# The interpreter that creates .venv: python3.11, else python3 when that is 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The Jupyter kernel the install registers in .venv, named after the course.
KERNEL := eotdl-tutorials
# Where the tests leave executed notebooks, the built book and browser screenshots.
TEST_OUTPUT ?= test-output
# Debian's chromium and its WebDriver, for the browser tests (never a downloaded browser).
CHROMIUM := /usr/bin/chromium /usr/bin/chromedriver
# Written after a successful install; pyproject.toml changes trigger a new install.
INSTALLED := $(VENV)/.installed
# torch and torchvision first, pinned to the wheels the course is tested with.
TORCH := torch==2.14.1 torchvision==0.29.1

# The profile `make course` runs (ci, default or full) and where worlds and datasets go.
PROFILE ?= default
DATA ?= data
export EOTDL_TUTORIALS_DATA := $(abspath $(DATA))

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
EXECUTED := $(NOTEBOOKS:notebooks/%=book/notebooks/%)
# The toc is book/_toc.yml (the default); the HTML goes to book/_build/html.
# Keep these flags in step with tests/test_notebooks.py, which builds the book the same way.
BOOK_FLAGS := --config _config.yml --path-output book -W -n --keep-going

.PHONY: help course test install browser world notebooks book FORCE

help:
	@echo "make course   install into .venv, build the sample world, execute the notebooks"
	@echo "              (PROFILE=$(PROFILE)) and build the book into book/_build/html"
	@echo "make test     install into .venv (and chromium with apt-get), run every test"

course: book
	@echo "The book: book/_build/html/index.html"

test: install browser
	EOTDL_TEST_OUTPUT=$(abspath $(TEST_OUTPUT)) $(BIN)/python -m pytest

# The browser tests drive Debian's chromium through chromium-driver: installed with apt-get
# when missing (as root), else a clear message.
browser:
	@if ls $(CHROMIUM) >/dev/null 2>&1; then exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium and chromium-driver (browser tests)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	else \
		echo "The browser tests need Debian's chromium and chromium-driver: run" >&2; \
		echo "  sudo apt-get install -y chromium chromium-driver" >&2; exit 1; \
	fi

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and f"$(VENV) needs \
	Python 3.11: {sys.executable} is {sys.version.split()[0]}; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(TORCH)
	$(BIN)/python -m pip install -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3.11 ($(KERNEL))"
	touch $@

# The full profile reads real catalogues: no sample world to build.
world: install
ifneq ($(PROFILE),full)
	$(BIN)/eotdl-tutorials world build --profile $(PROFILE) --out $(DATA)/world-$(PROFILE)
endif

notebooks: world $(EXECUTED)

# Each notebook runs from notebooks/ (as in the tests) into a temporary name, renamed when done;
# EOTDL_TUTORIALS_BATCH=1: long steps print one line instead of a progress bar.
$(EXECUTED): book/notebooks/%.ipynb: notebooks/%.ipynb FORCE | world
	@mkdir -p $(@D)
	EOTDL_TUTORIALS_BATCH=1 $(BIN)/papermill $< $(@D)/.$*.running.ipynb --cwd notebooks -k python3 -p profile $(PROFILE)
	mv $(@D)/.$*.running.ipynb $@

book: notebooks
	$(BIN)/jupyter-book build book $(BOOK_FLAGS)

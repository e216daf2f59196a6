# The course's single entry point (see README.md):
#   make course   set up .venv, build the sample world, execute the notebooks, build the book;
#                 a step runs only when something it depends on changed (FORCE=1: every step)
#   make test     set up .venv and Debian's chromium, run every test (what .ci/run calls)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# The interpreter that creates .venv: python3.11, else python3 when that is 3.11 (the one
# Python the course is tested with: pyproject.toml's requires-python).
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
# FORCE=1: run every notebook and build the book again, even where nothing they depend on changed.
FORCE ?=
FORCE_FLAG := $(if $(filter 1 yes true,$(FORCE)),--force)
# make course's steps (eotdl_tutorials/course): each runs only when something it depends on
# changed, says why, and records its time and peak memory in $(DATA)/results/course-PROFILE.json.
COURSE := $(BIN)/eotdl-tutorials course

# PROFILE=full reads real data, never the sample world: each of these variables, when set, passes
# the notebook parameter of the same name in lower case (STAC_URL=URL: -p stac_url URL) to every
# notebook. `course run` names every one that a notebook requires and is missing, at once, before
# it runs anything (the notebooks' parameters cells mark them; book/real-data.md lists them).
REAL_DATA := STAC_URL EARTHVIEW_INDEX LABEL_SOURCE AERIAL_DIR SCANEO_DIR LABEL_CATALOG
ifeq ($(PROFILE),full)
PAPERMILL_PARAMS := $(foreach v,$(REAL_DATA),$(if $($(v)),-p $(shell echo $(v) | tr A-Z a-z) $($(v))))
endif

# The toc is book/_toc.yml (the default); the HTML goes to book/_build/html.
# Keep these flags in step with tests/test_notebooks.py, which builds the book the same way.
BOOK_FLAGS := --config _config.yml --path-output book -W -n --keep-going

.PHONY: help course test install postgis browser notebooks book plan-ahead

help:
	@echo "make course   install into .venv, build the sample world, execute the notebooks"
	@echo "              (PROFILE=$(PROFILE)) and build the book into book/_build/html; a second"
	@echo "              run keeps every step whose inputs did not change and says why it runs"
	@echo "              the others (FORCE=1: run every notebook and build the book again)"
	@echo "make test     install into .venv (and PostGIS and chromium with apt-get), run every test"
	@echo "make postgis  install PostGIS for the machine's PostgreSQL with apt if missing (the"
	@echo "              pgstac STAC backend needs it; root only, else it says what to run)"
	@echo "make plan-ahead  write book/measured/plan-ahead.md (time, memory, disk of the two"
	@echo "              commands) from the last runs' results; commit it"

course: book
	@echo "The book: book/_build/html/index.html"

# Each run records the versions it ran with (pyproject.toml gives ranges): pip freeze, without
# the course's own editable install.
FREEZE := $(BIN)/python -m pip freeze --exclude-editable

test: install postgis browser
	@mkdir -p $(TEST_OUTPUT)
	$(FREEZE) > $(TEST_OUTPUT)/pip-freeze.txt
	EOTDL_TEST_OUTPUT=$(abspath $(TEST_OUTPUT)) $(COURSE) measure --name "make test" \
		--json $(TEST_OUTPUT)/make-test.json -- $(BIN)/python -m pytest

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

# The pgstac STAC backend (and its tests) runs a private PostgreSQL cluster with PostGIS.
postgis:
	scripts/install-postgis.sh

install: $(INSTALLED)

$(BIN)/python:
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and f"$(VENV) needs \
	Python 3.11: {sys.executable} is {sys.version.split()[0]}; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --no-cache-dir $(TORCH)
	$(BIN)/python -m pip install --no-cache-dir -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python 3.11 ($(KERNEL))"
	touch $@

# The sample world (unless PROFILE=full, which reads real catalogues), then each notebook run
# from notebooks/ (as in the tests) into book/notebooks/ through a temporary name, renamed when
# done, with papermill's Python API and the engine eotdl (eotdl_tutorials/batch.py: papermill's
# own, without its wait until the cell timeout when a kernel reply's wake-up is missed);
# EOTDL_TUTORIALS_BATCH=1: long steps print one line instead of a progress bar.
notebooks: install
	$(COURSE) run --profile $(PROFILE) $(FORCE_FLAG) $(PAPERMILL_PARAMS)

# Built again only when what it reads changed (pages, executed notebooks, results, package).
book: notebooks
	$(COURSE) book --profile $(PROFILE) $(FORCE_FLAG) -- $(BIN)/jupyter-book build book $(BOOK_FLAGS)
	$(FREEZE) > book/_build/html/pip-freeze.txt

# The plan-ahead page the README links to, from the results of the last make course (ci and
# default, in $(DATA)) and make test (in $(TEST_OUTPUT)).
plan-ahead: install
	$(COURSE) plan-ahead --test-record $(TEST_OUTPUT)/make-test.json --out book/measured

# Entry points for "Implicit Models, Executable". The README's two commands are `make book` and
# `make test`; both set up the environment first (a virtualenv in .venv).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= cpu
JOBS ?= 2
STAMP := $(VENV)/.installed
# Pins of the book's tool chain and the test tools (everything but torch): `make constraints`.
CONSTRAINTS := constraints/book.txt

.PHONY: setup book book-smoke test test-fast notebooks check-notebooks student assignments lint clean browser bench constraints

setup: $(STAMP)

# Without a GPU the CPU build of torch is installed first, so that nothing pulls a multi-GB CUDA
# build; with a GPU, pip picks the default (CUDA) build that the pyproject range admits. Every
# other package is installed at its version in $(CONSTRAINTS), so the book builds (warnings are
# errors) with the tool chain it was last built with; pyproject.toml keeps wide ranges for Colab.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	if ! command -v nvidia-smi >/dev/null 2>&1; then \
		$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) "torch==2.13.0"; fi
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[book,dev]"
	touch $(STAMP)

# Regenerate $(CONSTRAINTS) from pyproject.toml (core, book and dev) with `uv pip compile`, for the
# Python of $(VENV) on this platform (Linux, Python 3.11, as CI). It keeps every pin that the
# ranges still allow, so after editing pyproject.toml only what must move moves; UPGRADE=1 moves
# every package to the newest release the ranges allow. torch is left out
# (constraints/overrides.txt says why). Rebuild the book and run the tests before committing.
constraints:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv>=0.5"
	$(BIN)/uv pip compile pyproject.toml --extra book --extra dev --python $(BIN)/python \
		--override constraints/overrides.txt --annotation-style line --no-header --quiet \
		$(if $(UPGRADE),--upgrade) --output-file $(CONSTRAINTS)
	cat constraints/header.txt $(CONSTRAINTS) > $(CONSTRAINTS).new
	mv $(CONSTRAINTS).new $(CONSTRAINTS)

# The executed book in the `cpu` profile (what the published pages show), into _build/html,
# with JOBS chapters executed side by side (tools/build_book.py; JOBS=1 is plain jupyter-book).
book: setup
	IMPLICIT_EDU_PROFILE=$(PROFILE) $(BIN)/python tools/build_book.py --jobs $(JOBS) . -W -n --keep-going

# The same in the `smoke` profile, into _build/smoke (seconds per chapter).
book-smoke: setup
	IMPLICIT_EDU_PROFILE=smoke $(BIN)/python tools/build_book.py --jobs $(JOBS) . --path-output _build/smoke -W -n --keep-going

# Headless Chromium for the tests that open the built pages in a real browser.
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "could not install chromium: install it, or set IMPLICIT_EDU_SKIP_BROWSER=1"

# The whole test suite: package, exercises, notebooks, and the book built in the `smoke` profile.
test: setup browser
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not book"

# Regenerate the Colab bootstrap cells and the output-free .ipynb twins from the .md sources.
notebooks: setup
	$(BIN)/python tools/notebooks.py sync

check-notebooks: setup
	$(BIN)/python tools/notebooks.py check

# Student copies (solutions removed, checks kept) into _build/student.
student: setup
	$(BIN)/python tools/notebooks.py student _build/student

# otter-grader assignments of every chapter with exercises, into _build/assignments/<chapter>/
# (student/, autograder/ with the zip): see book/instructors.md.
assignments: setup
	$(BIN)/python tools/assignments.py --out _build/assignments

# Side-by-side benchmarks (benchmarks/README.md): our solvers against TorchDEQ, and memory.
bench: setup
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[bench]"
	$(BIN)/python benchmarks/solvers.py
	$(BIN)/python benchmarks/memory.py

# ruff on the package, tests, tools, benchmarks, _ext and the chapters' code (the .ipynb twins,
# which hold exactly the code cells of the .md chapters: fix a finding in the .md, then
# `make notebooks`). The formatter checks all but book/ (pyproject.toml says why).
lint: setup
	$(BIN)/ruff check implicit_edu tests tools benchmarks _ext book
	$(BIN)/ruff format --check implicit_edu tests tools benchmarks _ext

clean:
	rm -rf _build

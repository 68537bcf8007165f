# sslrec: `make run` trains and pushes on MovieLens-100K; `make test` runs the test suite,
# `make test-fast` all of it but the end-to-end pipeline runs (pytest marker e2e).
# Both run on TEST_WORKERS pytest-xdist processes (default: the CPU count, at most 2);
# --dist loadfile keeps a file's tests (and its module fixtures) on one worker; the session
# fixtures that files on both workers share are built once (tests/support/shared.py), the
# two histories of real runs side by side, one per worker (tests/support/fixtures.py);
# --no-loadscope-reorder hands the files out in the order that plugin sorts them into (those
# that wait for no shared build first), not by their number of tests.
# (--dist loadgroup does not group with pytest 9: xdist 3.8 renames node ids pytest 9 ignores.)
# Both create .venv with Python 3.10 when it is missing (TFX 1.16 supports Python 3.9-3.10 only).

VENV      ?= .venv
PY        := $(VENV)/bin/python
DATA      ?= data/movielens-100k
OUTPUT    ?= output
RUN_ARGS  ?=
PYTEST_ARGS ?=
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 2 ] && n=2; echo $$n)
XDIST     := -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder
export TF_USE_LEGACY_KERAS := 1

.PHONY: run test test-fast test-mysql venv data clean bench

# Find a Python 3.10: python3.10 on PATH, else a pyenv-installed 3.10.x.
define find_python310
for c in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10.*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do \
  if [ -x "$$(command -v $$c 2>/dev/null)" ] && PYENV_VERSION=$$(basename $$(dirname $$(dirname $$c)) 2>/dev/null) $$c -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then echo $$c; exit 0; fi; \
  if PYENV_VERSION=3.10.13 $$c -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null; then echo "env PYENV_VERSION=3.10.13 $$c"; exit 0; fi; \
done; exit 1
endef

$(VENV)/.installed: setup.py requirements.lock
	@if [ ! -x $(PY) ]; then \
	  PY310=$$($(find_python310)) || { echo "error: Python 3.10 is required (TFX 1.16 and its ml-metadata wheels support Python 3.9-3.10 only); install it, e.g. 'pyenv install 3.10.13'." >&2; exit 1; }; \
	  echo "creating $(VENV) with $$PY310"; $$PY310 -m venv $(VENV); \
	fi
	$(PY) -m pip install --quiet --upgrade "pip<26" setuptools wheel
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'
	touch $@

venv: $(VENV)/.installed

data: venv
	@[ -f $(DATA)/items/items.csv ] || $(VENV)/bin/sslrec data movielens-100k --out $(DATA)

run: venv data
	$(VENV)/bin/sslrec run --data $(DATA) --output $(OUTPUT) $(RUN_ARGS)

test: venv
	$(PY) -m pytest -q $(XDIST) $(PYTEST_ARGS) tests components models pipeline bench

test-fast: venv
	$(PY) -m pytest -q $(XDIST) -m 'not e2e' $(PYTEST_ARGS) tests components models pipeline bench

# The pipeline against a shared MySQL ML Metadata store: installs Debian's
# mariadb-server if missing, runs a private server on 127.0.0.1, stops it.
test-mysql: venv
	.ci/with-mysql $(PY) -m pytest -q $(PYTEST_ARGS) tests/mysql_e2e_test.py

bench: venv
	$(PY) bench/recall.py --output $(OUTPUT)

clean:
	rm -rf $(OUTPUT) .pytest_cache

# The workbook's commands. Setup steps are stamp files under .venv/.stamps, so a re-run is quick.
#   make report   run every notebook headless against the sandbox, then build build/report.html
#   make test     the test suite
#   make lab      the sandbox + JupyterLab on 127.0.0.1 (the guided workshop, on copies in build/workshop/)
#   make bench    the benchmarks in tests/bench
#   make rehearse the build, a rerun and the teardown against a sandbox that rehearses real AWS (its
#                 timings, eventual consistency, refusals), then the build's projected AWS time, its
#                 critical path and their ratio; THROTTLE=0.1 throttles 10 % of the calls
# Parameters for `make report`: PARAMS=my.yaml, SET="stack_name=shop az_count=3", ONLY=00,01,
# WITH_CODE=1 (keep code cells in the report), TIMEOUT=600 (seconds per cell).

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
PARAMS ?=
SET ?=
ONLY ?=
TIMEOUT ?= 600
THROTTLE ?= 0
SCALE ?=
WITH_CODE ?=
PYTEST_ARGS ?=
RUN_ARGS := $(if $(PARAMS),--params $(PARAMS)) $(foreach s,$(SET),--set $(s)) $(if $(ONLY),--only $(ONLY)) --timeout $(TIMEOUT)

.PHONY: setup report teardown test lab bench rehearse sandbox-start sandbox-resume sandbox-stop clean distclean graphviz chromium mariadb pth

setup: $(STAMPS)/requirements pth graphviz mariadb

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed: install it (Debian: apt-get install -y python3.11 python3.11-venv) or run make PYTHON=/path/to/python3.11"; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || { echo "$(PYTHON) is $$($(PYTHON) --version); the workbook needs Python 3.11 (make PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMPS)/requirements: requirements.txt | $(PY)
	$(PY) -m pip install --disable-pip-version-check --progress-bar off -q -r requirements.txt
	@mkdir -p $(STAMPS) && touch $@

# `import workbook` from anywhere in the venv (kernels included): a .pth naming this checkout.
# Written every time (it takes milliseconds), so a moved or re-cloned checkout stays right.
pth: | $(PY)
	@$(PY) -c 'import pathlib, sysconfig; pathlib.Path(sysconfig.get_paths()["purelib"], "workbook-src.pth").write_text("$(CURDIR)\n")'

# The diagrams package renders with Graphviz's `dot`.
graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; \
	  else \
	    echo "Graphviz is missing (no 'dot' on PATH). Install it with:"; \
	    echo "    sudo apt-get install -y graphviz"; \
	    exit 1; \
	  fi; }

# The sandbox's MySQL stand-ins (a dev host running MySQL, RDS for MySQL) are MariaDB from Debian's packages.
mariadb:
	@{ command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ]; } || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing MariaDB with apt-get (the sandbox's MySQL stand-ins)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null; \
	  else \
	    echo "MariaDB is missing (no mariadbd; the sandbox's MySQL stand-ins need it). Install it with:"; \
	    echo "    sudo apt-get install -y mariadb-server"; \
	    exit 1; \
	  fi; }

sandbox-start: setup
	@$(PY) -m workbook sandbox start >/dev/null && echo "sandbox running ($$($(PY) -m workbook sandbox status | grep -o '"endpoint": "[^"]*"'))"

# The workshop's sandbox as it was left: rehearsing if `sandbox start --rehearse` switched it on (plain
# `sandbox start`, which sandbox-start runs, switches the rehearsal off).
sandbox-resume: setup
	@$(PY) -c 'from workbook.sandbox import server; r = server.start(); print("sandbox running (" + r["endpoint"] + ")" + (", rehearsing AWS" if r["rehearse"]["on"] else ""))'

# Stops the data plane too (server.stop); both keep their state for the next start.
sandbox-stop:
	@if [ -x $(PY) ]; then $(PY) -m workbook sandbox stop; fi

# A failed run still gets its report (the failed notebook is in it); make then exits non-zero.
# Bad parameters (exit 2) stop before anything ran, so there is no report to build.
report: sandbox-start
	@status=0; $(PY) -m workbook run $(RUN_ARGS) || status=$$?; \
	if [ $$status -eq 2 ]; then exit 2; fi; \
	$(PY) -m workbook report $(if $(WITH_CODE),--with-code) || exit $$?; \
	echo "open it in a browser: file://$(CURDIR)/build/report.html"; \
	echo "the sandbox keeps running for 'make lab'; stop it with 'make sandbox-stop'"; \
	exit $$status

# Removes everything the stack created (09_teardown); `make teardown SET="teardown_dev=true"` also the dev host.
teardown: sandbox-start
	$(PY) -m workbook run --only 09 $(if $(PARAMS),--params $(PARAMS)) $(foreach s,$(SET),--set $(s)) --timeout $(TIMEOUT)

# The browser tests drive Debian's Chromium (never a downloaded browser); installed like Graphviz.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium with apt-get (for the browser tests)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Chromium is missing (the browser tests need it). Install it with:"; \
	    echo "    sudo apt-get install -y chromium"; \
	    exit 1; \
	  fi; }

test: setup chromium
	@status=0; $(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "error: pytest collected no tests"; fi; \
	exit $$status

# JupyterLab on copies under build/workshop/ (workbook/lab.py): the committed notebooks stay unmodified.
lab: sandbox-resume
	$(PY) -m workbook.lab

# A sandbox of its own (.sandbox-rehearse/), emptied first and stopped after: the workshop's keeps its state.
rehearse: setup
	$(PY) -m workbook.rehearse --throttle $(THROTTLE) --timeout $(TIMEOUT) $(if $(SCALE),--time-scale $(SCALE)) \
	  $(foreach s,$(SET),--set $(s))

bench: setup
	@shopt -s nullglob; files=(tests/bench/*.py); \
	if [ $${#files[@]} -eq 0 ]; then echo "no benchmarks in tests/bench"; exit 0; fi; \
	for f in "$${files[@]}"; do echo "== $$f"; $(PY) "$$f" || exit $$?; done

clean:
	rm -rf build .pytest_cache diagrams/*.png
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -prune -exec rm -rf {} +

# Also the venv and the sandbox's state (every resource the sandbox held is forgotten).
distclean: sandbox-stop clean
	rm -rf $(VENV) .sandbox .sandbox-rehearse

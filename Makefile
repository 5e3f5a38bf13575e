# Set-up on a fresh machine: `make demo` or `make test` create .venv, install, run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
STAMP := $(VENV)/.installed

.PHONY: venv install test test-avx2 test-slow lint format demo demo-model bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Tests run in TEST_WORKERS processes (pytest-xdist): most of them start commands or wait
# on files and signals, so two processes on two cores take half the time of one.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# The default suite with PyTorch and oneDNN limited to AVX2 (as on a CPU without AVX-512).
test-avx2: $(STAMP)
	ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# `make demo` animates the bundled sample with the bundled demo model;
# `make demo CHECKPOINT=vox.pth.tar` (or TPSMM_CHECKPOINT in the environment) with others.
demo: $(STAMP)
	$(BIN)/tpsmm demo $(if $(CHECKPOINT),--checkpoint $(CHECKPOINT)) $(DEMO_ARGS)

# Rebuild the bundled demo model (src/tpsmm/assets/demo.pth.tar): synthetic videos and
# clips of the sample video, `tpsmm train --config demo`, the AVD network, then the
# float16 bundle. About two hours on a 2-core CPU; DEMO_BUILD holds the data and runs.
DEMO_BUILD ?= build/demo-model
DEMO_MODEL := src/tpsmm/assets/demo.pth.tar
demo-model: $(STAMP)
	$(BIN)/tpsmm synth --out $(DEMO_BUILD)/data --videos 300 --frames 32 --size 128 \
		--seed 0 --test-fraction 0.1 --sample-clips 80
	$(BIN)/tpsmm train --config demo --data $(DEMO_BUILD)/data --out $(DEMO_BUILD)/run
	$(BIN)/tpsmm train-avd --checkpoint $(DEMO_BUILD)/run/checkpoint.pth.tar \
		--data $(DEMO_BUILD)/data --out $(DEMO_BUILD)/avd
	$(BIN)/python -m tpsmm.pretrained pack $(DEMO_BUILD)/avd/checkpoint.pth.tar $(DEMO_MODEL) \
		--info '{"command": "make demo-model"}'

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache

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

# Rebuild the bundled demo model (src/tpsmm/assets/demo.pth.tar) in seven training stages
# (configs/demo-model/README.md): `tpsmm train --config demo` on 300 synthetic videos and
# clips of the sample video, then, on 600 videos, the background predictor alone (large
# camera motion, then realistic), motion only and a fine-tuning of every network, twice
# (the second time at lower learning rates); then the AVD network and the float16 bundle.
# DEMO_BUILD holds the data and the runs.
DEMO_BUILD ?= build/demo-model
DEMO_MODEL := src/tpsmm/assets/demo.pth.tar
DEMO_TRAIN := $(BIN)/tpsmm train --data $(DEMO_BUILD)/data-600
demo-model: $(STAMP)
	$(BIN)/tpsmm synth --out $(DEMO_BUILD)/data --videos 300 --frames 32 --size 128 \
		--seed 0 --test-fraction 0.1 --sample-clips 80
	$(BIN)/tpsmm synth --out $(DEMO_BUILD)/data-600 --videos 600 --frames 32 --size 128 \
		--seed 0 --test-fraction 0.05 --sample-clips 80
	$(BIN)/tpsmm train --config demo --data $(DEMO_BUILD)/data --out $(DEMO_BUILD)/generator
	$(DEMO_TRAIN) --config configs/demo-model/background-large.yaml \
		--checkpoint $(DEMO_BUILD)/generator/checkpoint.pth.tar --out $(DEMO_BUILD)/background-large
	$(DEMO_TRAIN) --config configs/demo-model/background.yaml \
		--checkpoint $(DEMO_BUILD)/background-large/checkpoint.pth.tar --out $(DEMO_BUILD)/background
	$(DEMO_TRAIN) --config configs/demo-model/motion.yaml --precision bf16 \
		--checkpoint $(DEMO_BUILD)/background/checkpoint.pth.tar --out $(DEMO_BUILD)/motion
	$(DEMO_TRAIN) --config configs/demo-model/finetune.yaml --precision bf16 \
		--checkpoint $(DEMO_BUILD)/motion/checkpoint.pth.tar --out $(DEMO_BUILD)/finetune
	$(DEMO_TRAIN) --config configs/demo-model/motion-low-lr.yaml --precision bf16 \
		--checkpoint $(DEMO_BUILD)/finetune/checkpoint.pth.tar --out $(DEMO_BUILD)/motion-low-lr
	$(DEMO_TRAIN) --config configs/demo-model/finetune-low-lr.yaml --precision bf16 \
		--checkpoint $(DEMO_BUILD)/motion-low-lr/checkpoint.pth.tar --out $(DEMO_BUILD)/finetune-low-lr
	$(BIN)/tpsmm train-avd --epochs 5 --checkpoint $(DEMO_BUILD)/finetune-low-lr/checkpoint.pth.tar \
		--data $(DEMO_BUILD)/data-600 --out $(DEMO_BUILD)/avd
	$(BIN)/python -m tpsmm.pretrained pack $(DEMO_BUILD)/avd/checkpoint.pth.tar $(DEMO_MODEL) \
		--config demo --info '{"command": "make demo-model"}'

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache

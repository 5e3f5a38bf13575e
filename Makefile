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

# Rebuild the bundled demo model (src/tpsmm/assets/demo.pth.tar) in thirteen training stages
# (configs/demo-model/README.md). Stages 1-7 teach every network to move textured shapes
# on synthetic videos of known motion (`tpsmm synth`) and clips of the sample video: the
# first from scratch, then, on 600 videos, the background predictor alone (large camera
# motion, then realistic), motion only and a fine-tuning of every network, twice (the
# second time at lower learning rates). Stages 8-10 learn real faces from FACES (the
# videos and portraits of ../shared/data/faces, from LivePortrait's repository: see its
# README.md) with their 68 landmarks: the keypoint detector alone with the heatmap head,
# then every network, then every network with each face part given to its own transform
# (the demo preset), then the keypoint detector alone, the motion (keypoints and dense
# motion) and every network again, asked for how the eyes and lips open. Then the AVD
# network and the float16 bundle.
# FACES_TEST_VIDEOS and the portraits not in FACES_PORTRAITS are kept out of training
# (the held-out faces of benchmarks/RESULTS.md). DEMO_BUILD holds the data and the runs.
DEMO_BUILD ?= build/demo-model
DEMO_MODEL := src/tpsmm/assets/demo.pth.tar
DEMO_TRAIN := $(BIN)/tpsmm train --data $(DEMO_BUILD)/data-600
FACES ?= ../shared/data/faces
FACES_TEST_VIDEOS ?= lp-d0,lp-d3,lp-d12,lp-d20,lp-s18
FACES_PORTRAITS ?= lp-d9 lp-d12 lp-d19 lp-d38 lp-s0 lp-s2 lp-s4 lp-s5 lp-s6 lp-s8 lp-s10 lp-s11
FACE_CLIPS := --kind face --size 128 --format png --min-frames 32
demo-model: $(STAMP)
	$(BIN)/tpsmm synth --out $(DEMO_BUILD)/data --videos 300 --frames 32 --size 128 \
		--seed 0 --test-fraction 0.1 --sample-clips 80
	$(BIN)/tpsmm synth --out $(DEMO_BUILD)/data-600 --videos 600 --frames 32 --size 128 \
		--seed 0 --test-fraction 0.05 --sample-clips 80
	$(BIN)/tpsmm train --config configs/demo-model/synthetic.yaml --data $(DEMO_BUILD)/data \
		--out $(DEMO_BUILD)/generator
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
	rm -rf $(DEMO_BUILD)/faces-raw $(DEMO_BUILD)/faces $(DEMO_BUILD)/portraits $(DEMO_BUILD)/faces-keypoints
	mkdir -p $(DEMO_BUILD)/faces-raw/videos $(DEMO_BUILD)/faces-raw/stills \
		$(DEMO_BUILD)/faces-keypoints/train
	cp $(FACES)/videos/*.mp4 $(DEMO_BUILD)/faces-raw/videos/
	cp src/tpsmm/assets/driving.mp4 $(DEMO_BUILD)/faces-raw/videos/sample-driving.mp4
	for name in $(FACES_PORTRAITS); do \
		cp $(FACES)/images/$$name.jpg $(DEMO_BUILD)/faces-raw/stills/portrait-$$name.jpg; done
	$(BIN)/tpsmm prepare-videos $(DEMO_BUILD)/faces-raw/videos $(DEMO_BUILD)/faces $(FACE_CLIPS) \
		--test-videos $(FACES_TEST_VIDEOS)
	$(BIN)/tpsmm prepare-videos $(DEMO_BUILD)/faces-raw/stills $(DEMO_BUILD)/portraits $(FACE_CLIPS) \
		--stills --test-fraction 0
	$(BIN)/tpsmm dataset landmarks $(DEMO_BUILD)/faces
	$(BIN)/tpsmm dataset landmarks $(DEMO_BUILD)/portraits
	ln -s $(abspath $(DEMO_BUILD))/faces/test $(DEMO_BUILD)/faces-keypoints/test
	ln -s $(abspath $(DEMO_BUILD))/faces/train/* $(abspath $(DEMO_BUILD))/portraits/train/* \
		$(DEMO_BUILD)/faces-keypoints/train/
	$(BIN)/tpsmm train --config configs/demo-model/faces-keypoints.yaml --precision bf16 \
		--data $(DEMO_BUILD)/faces-keypoints --checkpoint $(DEMO_BUILD)/finetune-low-lr/checkpoint.pth.tar \
		--partial --out $(DEMO_BUILD)/faces-keypoints-run
	$(BIN)/tpsmm train --config configs/demo-model/faces.yaml --precision bf16 --data $(DEMO_BUILD)/faces \
		--checkpoint $(DEMO_BUILD)/faces-keypoints-run/checkpoint.pth.tar --out $(DEMO_BUILD)/faces-run
	$(BIN)/tpsmm train --config demo --precision bf16 --data $(DEMO_BUILD)/faces \
		--checkpoint $(DEMO_BUILD)/faces-run/checkpoint.pth.tar --out $(DEMO_BUILD)/faces-parts-run
	$(BIN)/tpsmm train --config configs/demo-model/faces-opening-keypoints.yaml --max-steps 600 \
		--data $(DEMO_BUILD)/faces --checkpoint $(DEMO_BUILD)/faces-parts-run/checkpoint.pth.tar \
		--out $(DEMO_BUILD)/faces-opening-keypoints-run
	$(BIN)/tpsmm train --config configs/demo-model/faces-opening-motion.yaml --max-steps 1300 \
		--data $(DEMO_BUILD)/faces --checkpoint $(DEMO_BUILD)/faces-opening-keypoints-run/checkpoint.pth.tar \
		--out $(DEMO_BUILD)/faces-opening-motion-run
	$(BIN)/tpsmm train --config configs/demo-model/faces-opening.yaml --max-steps 300 \
		--data $(DEMO_BUILD)/faces --checkpoint $(DEMO_BUILD)/faces-opening-motion-run/checkpoint.pth.tar \
		--out $(DEMO_BUILD)/faces-opening-run
	$(BIN)/tpsmm train-avd --checkpoint $(DEMO_BUILD)/faces-opening-run/checkpoint.pth.tar \
		--data $(DEMO_BUILD)/faces --out $(DEMO_BUILD)/avd
	$(BIN)/python -m tpsmm.pretrained pack $(DEMO_BUILD)/avd/checkpoint.pth.tar $(DEMO_MODEL) \
		--config demo --info '{"command": "make demo-model"}'

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache

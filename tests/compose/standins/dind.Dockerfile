# Stand-in for docker:28-dind and docker:28-cli: Debian's Docker Engine (20.10). With no command it is the dind
# image: TLS certificates made in DOCKER_TLS_CERTDIR (ca/, server/ naming DOCKER_TLS_SAN, client/), dockerd on 2376
# with --tlsverify, the python stand-in loaded. With a command (`docker build ...`) it is the cli image.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends docker.io iptables openssl procps \
    && rm -rf /var/lib/apt/lists/*
COPY python.tar /preload/python.tar
COPY dind-entrypoint.sh /usr/local/bin/
VOLUME /var/lib/docker
ENTRYPOINT ["/usr/local/bin/dind-entrypoint.sh"]

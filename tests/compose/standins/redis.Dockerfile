# Stand-in for redis:7: Debian's redis-server on every interface of the stack's network, redis-cli for the healthcheck.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends redis-server && rm -rf /var/lib/apt/lists/*
CMD ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", ""]

# Stand-in for python:3.11-slim-bookworm, for the producer image's build on the Docker host: Debian's Python 3.11
# with `python` and `pip`, which installs offline from the producer's wheels baked in (/wheels).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip && rm -rf /var/lib/apt/lists/* \
    && rm -f /usr/lib/python3.11/EXTERNALLY-MANAGED && ln -s /usr/bin/python3 /usr/local/bin/python
COPY producer/ /wheels/
ENV PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels PIP_DISABLE_PIP_VERSION_CHECK=1

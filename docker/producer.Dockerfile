# The producer image for the compose stack's Docker host, built with network access (include/producer/Dockerfile
# is the offline build that include/producer/build.sh feeds with wheels). Context: include/producer.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE} AS wheels
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --target /app/vendor -r /tmp/requirements.txt

FROM ${BASE_IMAGE}
WORKDIR /app
COPY --from=wheels /app/vendor/ /app/vendor/
COPY producer/ /app/producer/
COPY config/config.yaml /app/config/config.yaml
RUN mkdir -p /app/logs /app/data && chown 10001:10001 /app/logs
ENV PYTHONPATH=/app/vendor:/app PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
USER 10001:10001
ENTRYPOINT ["python", "-m", "producer"]

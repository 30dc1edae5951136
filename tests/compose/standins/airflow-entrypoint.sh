#!/bin/sh
# The official image's entrypoint as docker-compose.yaml uses it: `airflow COMMAND`, or a shell or Python as given.
case "${1:-}" in
    bash|sh|python|python3|/*) exec "$@" ;;
    *) exec airflow "$@" ;;
esac

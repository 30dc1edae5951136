# Stand-in for apache/airflow:3.3.2-python3.11: Debian's Python 3.11 with Airflow, its Celery, FAB and postgres
# extras in a virtualenv the user `airflow` (50000) owns, AIRFLOW_HOME /opt/airflow, `airflow` as the entrypoint,
# curl for the healthchecks. pip installs offline from the wheels baked in (/wheels), so docker/airflow.Dockerfile's
# own `pip install` runs here without network.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv curl procps && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 50000 --gid 0 --create-home --home-dir /home/airflow airflow \
    && mkdir -p /opt/airflow && chown airflow:0 /opt/airflow
COPY --chown=airflow:0 airflow/ /wheels/
ENV PATH=/home/airflow/.venv/bin:$PATH AIRFLOW_HOME=/opt/airflow PIP_NO_INDEX=1 PIP_FIND_LINKS=/wheels \
    PIP_DISABLE_PIP_VERSION_CHECK=1
USER airflow
RUN python3 -m venv /home/airflow/.venv \
    && pip install --no-cache-dir -c /wheels/constraints.txt \
        "apache-airflow[celery,fab,postgres,redis]==$(cat /wheels/AIRFLOW_VERSION)"
COPY airflow-entrypoint.sh /entrypoint
WORKDIR /opt/airflow
ENTRYPOINT ["/entrypoint"]

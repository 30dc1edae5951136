# The Airflow image of docker-compose.yaml: Airflow 3.3 with filepool and the providers it names installed.
# The tag is pinned and unverified here (no registry is reachable from the machines filepool is built on).
ARG AIRFLOW_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${AIRFLOW_IMAGE}

COPY --chown=airflow:0 requirements.txt setup.py README.md /opt/filepool/
COPY --chown=airflow:0 filepool/ /opt/filepool/filepool/
# The constraints are the ones the tests ran with (requirements.txt pins Airflow and every provider).
RUN pip install --no-cache-dir -r /opt/filepool/requirements.txt && pip install --no-cache-dir --no-deps /opt/filepool

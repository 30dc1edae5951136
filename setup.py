"""airflow-provider-filepool: exactly-once bulk file transfers for Apache Airflow 3."""

from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
EXTRAS = {  # the optional features (filepool/extras.py): a team that moves SFTP -> S3 installs none of them
    "kafka": ["apache-airflow-providers-apache-kafka>=1.9.0", "confluent-kafka>=2.10.0"],
    "amqp": ["pika>=1.3.0"],
    "docker": ["apache-airflow-providers-docker>=4.4.0", "docker>=7.1.0"],
    "lineage": ["apache-airflow-providers-openlineage>=2.3.0", "apache-airflow-providers-common-compat>=1.7.4"],
    "metrics": ["prometheus-client>=0.22.0"],
}
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
    # What moving files needs (SFTP -> S3, FTP <-> local, the ledger, the maintenance DAG and the File transfers
    # page), with the providers of the connection types the README has users create for it (sftp, ftp, fs from
    # standard, aws, postgres). Each floor is the oldest release the code runs on: `make floor` installs exactly
    # these with Airflow 3.1.0 and runs the file-moving tests (README: "Installing"). The optional features are
    # extras (filepool/extras.py names what needs each). requirements.txt pins them all at today's releases.
    install_requires=[
        "apache-airflow>=3.1.0,<4",
        "apache-airflow-providers-sftp>=5.3.0",
        "apache-airflow-providers-ftp>=3.13.0",
        "apache-airflow-providers-standard>=1.2.0",
        "apache-airflow-providers-amazon>=9.8.0",
        "apache-airflow-providers-postgres>=6.2.0",
        "asyncssh>=2.21.0",
        "botocore>=1.37.3",
        "psycopg2-binary>=2.9.10",
    ],
    extras_require={
        **EXTRAS,
        "all": sorted({requirement for requirements in EXTRAS.values() for requirement in requirements}),
    },
    entry_points={
        "apache_airflow_provider": ["provider_info=filepool.get_provider_info:get_provider_info"],
        "airflow.plugins": ["filepool=filepool.plugin:FilepoolPlugin"],
    },
)

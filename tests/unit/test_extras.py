"""filepool without its extras: in a Python where the extras' modules cannot be imported (each set to None in
sys.modules, as Python does for a module known to be absent), every module of the package imports but the
producer's, which names the docker extra; the transfer DAG files parse; each feature that needs an extra fails
where it starts, with MISSING_EXTRA and the pip command. The real install without extras is CI's floor job
(.ci/floor, the README's "Installing")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from filepool.extras import EXTRAS

REPO = Path(__file__).resolve().parents[2]

WITHOUT_EXTRAS = """
import importlib, json, pkgutil, runpy, sys
# the providers' distributions stay (Airflow's provider discovery reads them): their operators are what goes
for module in ("confluent_kafka", "pika", "docker", "airflow.providers.docker.operators",
               "airflow.providers.openlineage.extractors", "prometheus_client"):
    sys.modules[module] = None
import filepool
from filepool.extras import EXTRAS, MissingExtra, require
from filepool.events.amqp import AMQPSink
from filepool.events.kafka import KafkaSink, TopicConsumer

modules = {}
for info in pkgutil.walk_packages(filepool.__path__, "filepool."):
    try:
        importlib.import_module(info.name)
        modules[info.name] = "ok"
    except Exception as exc:
        modules[info.name] = str(exc)
dags = {}
for path in sorted(sys.argv[1:]):
    try:
        runpy.run_path(path)
        dags[path.rsplit("/", 1)[-1]] = "ok"
    except Exception as exc:
        dags[path.rsplit("/", 1)[-1]] = str(exc)
features = {}
for name, start in {"kafka sink": lambda: KafkaSink("kafka_default"),
                    "kafka consumer": lambda: TopicConsumer("kafka_default", "t", "g"),
                    "amqp sink": lambda: AMQPSink("amqp_default")._open(),
                    **{extra: (lambda extra=extra: require(extra)) for extra in EXTRAS}}.items():
    try:
        start()
        features[name] = "started"
    except MissingExtra as exc:
        features[name] = str(exc)
print(json.dumps({"modules": modules, "dags": dags, "features": features}))
"""


def test_without_its_extras_filepool_imports_its_transfer_dags_parse_and_each_feature_names_its_extra() -> None:
    dags = sorted(str(p) for p in (REPO / "dags").glob("*.py"))
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRAS, *dags], capture_output=True, text=True, env=dict(os.environ), check=True
    )
    found = json.loads(done.stdout.splitlines()[-1])
    docker = "pip install 'airflow-provider-filepool[docker]'"
    assert {m for m, outcome in found["modules"].items() if outcome != "ok"} == {
        "filepool.operators.producer",
        "filepool.producer_dags",
    }
    assert all(docker in found["modules"][m] for m in ("filepool.operators.producer", "filepool.producer_dags"))
    assert len(found["modules"]) > 60
    assert {d for d, outcome in found["dags"].items() if outcome != "ok"} == {
        "filepool_producer_batch.py",
        "filepool_producer_realtime.py",
    }
    assert all(docker in found["dags"][d] for d in ("filepool_producer_batch.py", "filepool_producer_realtime.py"))
    needs = {
        "kafka sink": "kafka",
        "kafka consumer": "kafka",
        "amqp sink": "amqp",
        **{extra: extra for extra in EXTRAS},
    }
    assert set(found["features"]) == set(needs)
    for feature, extra in needs.items():
        said = found["features"][feature]
        assert said.startswith("[MISSING_EXTRA] ") and f"pip install 'airflow-provider-filepool[{extra}]'" in said

"""Run one KafkaTaskMessagesOperator as its own process (for the crash tests), outside Airflow.

Usage: python -m tests.run_intake TOPIC GROUP IDLE_SECONDS; prints the summary as JSON. Connections come from
the environment (AIRFLOW_CONN_*); logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys

from filepool.operators import KafkaTaskMessagesOperator


def main(argv: list[str]) -> int:
    topic, group, idle = argv[0], argv[1], float(argv[2])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(message)s", stream=sys.stderr, force=True
    )
    op = KafkaTaskMessagesOperator(
        task_id="intake",
        topic=topic,
        group=group,
        dead_letter_topic=f"{topic}-dead-letter",
        results_topic=f"{topic}-results",
        failures_topic=f"{topic}-failures",
        idle_seconds=idle,
        threads=8,
    )
    print(json.dumps(op.execute({})), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run one KafkaTaskMessagesOperator as its own process (for the crash tests), outside Airflow.

Usage: python -m tests.run_intake TOPIC GROUP IDLE_SECONDS [PARK_AFTER]; prints the summary as JSON. Connections
come from the environment (AIRFLOW_CONN_*); logs go to stderr.

FILEPOOL_TEST_FAULT=raise:TASK_ID or die:TASK_ID stands for a fault nobody foresaw in taking the batch that holds
that task message: the ledger's take raises, or the process dies at once (os._exit, as a crash or a kill would).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from filepool.operators import KafkaTaskMessagesOperator


def _inject_fault(spec: str) -> None:
    import filepool.events.intake as intake

    mode, _, task_id = spec.partition(":")
    real = intake.take_messages

    def take_messages(ledger: Any, messages: Any, reply: Any) -> dict[str, str]:
        if any(m.task_id == task_id for m in messages):
            if mode == "die":
                os._exit(9)
            raise RuntimeError(f"injected fault on {task_id}")
        return real(ledger, messages, reply)

    intake.take_messages = take_messages  # type: ignore[assignment]


def main(argv: list[str]) -> int:
    topic, group, idle = argv[0], argv[1], float(argv[2])
    park_after = int(argv[3]) if len(argv) > 3 else 3
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s %(message)s", stream=sys.stderr, force=True
    )
    if os.environ.get("FILEPOOL_TEST_FAULT"):
        _inject_fault(os.environ["FILEPOOL_TEST_FAULT"])
    op = KafkaTaskMessagesOperator(
        task_id="intake",
        topic=topic,
        group=group,
        dead_letter_topic=f"{topic}-dead-letter",
        results_topic=f"{topic}-results",
        failures_topic=f"{topic}-failures",
        idle_seconds=idle,
        threads=8,
        park_after=park_after,
    )
    print(json.dumps(op.execute({})), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

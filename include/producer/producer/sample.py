"""TripClick-like sample events in the TripClick logs' schema and layout: DIR/date=YYYY-MM-DD/events.json (JSON lines).

python -m producer.sample --out DIR --start 2026-01-01 --days 3 --events 1000 [--random-seed 4] [--malformed 0]
Each day's events fall between 15:00 and 16:00 UTC, as in the TripClick logs.
"""

from __future__ import annotations

import argparse
import json
import random
import string
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

AREAS = ["Cardiology", "Emergency Medicine", "Oncology", "Neurology", "Pediatrics", "Infectious Disease"]
KEYWORDS = ["Stroke", "Sepsis", "Asthma", "Diabetes", "Migraine", "Heart failure", "Covid-19"]


def events_for(day: date, count: int, rnd: random.Random) -> list[dict[str, object]]:
    start = datetime(day.year, day.month, day.day, 15, tzinfo=UTC)
    offsets = sorted(rnd.uniform(0, 3600) for _ in range(count))
    sessions = ["".join(rnd.choices(string.ascii_lowercase + string.digits, k=24)) for _ in range(max(1, count // 5))]
    found = []
    for offset in offsets:
        at = start + timedelta(seconds=offset)
        document = rnd.randint(100_000, 2_000_000)
        found.append(
            {
                "DateCreated": f"/Date({int(at.timestamp() * 1000) - rnd.randint(0, 10**10)})/",
                "SessionId": rnd.choice(sessions),
                "DocumentId": document,
                "Url": f"http://www.tripdatabase.com/doc/{document}",
                "Title": f"Document {document}",
                "DOI": "",
                "ClinicalAreas": "," + ",".join(rnd.sample(AREAS, rnd.randint(1, 2))),
                "Keywords": rnd.choice(KEYWORDS),
                "Documents": [],
                "event_ts": at.isoformat(),
                "event_date": day.isoformat(),
            }
        )
    return found


def write(out: Path, start: date, days: int, per_day: int, random_seed: int = 4, malformed: int = 0) -> list[Path]:
    """Write the files; `malformed` broken lines are mixed into each day. Returns the files written."""
    rnd = random.Random(random_seed)
    written = []
    for n in range(days):
        day = start + timedelta(days=n)
        lines = [json.dumps(e, ensure_ascii=False) for e in events_for(day, per_day, rnd)]
        for i in range(malformed):
            lines.insert(rnd.randint(0, len(lines)), ["{not json", '{"SessionId": "x"}', "[1, 2]"][i % 3])
        path = out / f"date={day.isoformat()}" / "events.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--start", default="2026-01-01", type=date.fromisoformat)
    parser.add_argument("--days", default=1, type=int)
    parser.add_argument("--events", default=1000, type=int, help="per day")
    parser.add_argument("--random-seed", default=4, type=int, help="random seed of the sample events")
    parser.add_argument("--malformed", default=0, type=int, help="broken lines mixed into each day")
    args = parser.parse_args()
    for path in write(args.out, args.start, args.days, args.events, args.random_seed, args.malformed):
        print(path)


if __name__ == "__main__":
    main()

"""Records and paths bounded before they reach a broker or the ledger."""

from __future__ import annotations

import json

from filepool.bounded import fit
from filepool.names import clip


def size(record: dict[str, object]) -> int:
    return len(json.dumps(record).encode())


def test_a_record_that_fits_is_left_as_it_is() -> None:
    record = {"task_id": "t1", "error_message": "short"}
    assert fit(record, 1000) is record


def test_the_longest_fields_are_cut_until_it_fits_and_the_record_says_so() -> None:
    record = {"task_id": "t1", "src_path": "p" * 5000, "error_message": "é" * 50_000, "bytes": 10}
    cut = fit(record, 20_000)
    assert size(cut) <= 20_000
    assert cut["truncated"] == {"error_message": 50_000}  # the path alone fits beside the rest
    assert cut["src_path"] == record["src_path"] and cut["bytes"] == 10
    assert record["error_message"].startswith(cut["error_message"])


def test_text_that_json_escapes_six_bytes_a_character_still_fits() -> None:
    value = "\ufffd" * 300_000  # bytes that were not UTF-8, as a dead letter carries them: 1.8 MB as JSON
    cut = fit({"error_code": "MALFORMED_MESSAGE", "value": value, "offset": 7}, 998_000)
    assert size(cut) <= 998_000 and cut["truncated"] == {"value": 300_000} and cut["offset"] == 7


def test_nested_values_are_cut_as_their_json_text() -> None:
    cut = fit({"metadata": {"k": ["x" * 1000] * 100}}, 2000)
    assert size(cut) <= 2000 and isinstance(cut["metadata"], str) and "metadata" in cut["truncated"]


def test_a_path_is_clipped_to_its_byte_limit_saying_how_long_it_was() -> None:
    assert clip("a" * 10, 20) == "a" * 10
    clipped = clip("ж" * 1000, 200)
    assert len(clipped.encode()) <= 200 and clipped.endswith("[cut: 2000 bytes]")

"""Application log lines carry what a reader needs and nothing CloudWatch already records."""

from __future__ import annotations

import json

import pytest

# mcn_core.observability is imported inside the tests, not at collection: its Powertools Metrics
# singleton takes its namespace from the environment when first imported, and the in-process stacks
# of the integration tests (collected alongside) must be the ones to import it first.


def _lines(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_a_line_drops_the_keys_cloudwatch_and_the_log_group_already_give(capsys: pytest.CaptureFixture[str]) -> None:
    from mcn_core.observability import logger

    logger.append_keys(cold_start=False, function_request_id="r-1", function_arn="arn:x", function_name="f")
    try:
        logger.info("notice recorded", status="submitted", fee_minor=10)
    finally:
        logger.remove_keys(["cold_start", "function_request_id", "function_arn", "function_name"])
    (line,) = _lines(capsys)
    assert line["message"] == "notice recorded" and line["level"] == "INFO"
    assert (line["status"], line["fee_minor"], line["function_request_id"]) == ("submitted", 10, "r-1")
    for key in ("timestamp", "location", "cold_start", "function_arn", "function_name", "function_memory_size"):
        assert key not in line


def test_the_line_that_paid_for_a_cold_start_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from mcn_core.observability import logger

    logger.append_keys(cold_start=True)
    try:
        logger.info("batch ingested")
    finally:
        logger.remove_keys(["cold_start"])
    (line,) = _lines(capsys)
    assert line["cold_start"] is True

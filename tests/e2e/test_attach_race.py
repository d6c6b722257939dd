"""Exactly once under real concurrency: 20 processes attach one subscriber at the same instant."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from attach_race import AttachRace
from notify_stack import SMSC_PASSWORD, NotifyStack

from mcn_devkit.smsc import LocalSmsc

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROUNDS = int(os.environ.get("MCN_ATTACH_RACE_ROUNDS", "4"))


@pytest.fixture(scope="module")
def race() -> Iterator[AttachRace]:
    with LocalSmsc(system_id="mcn", password=SMSC_PASSWORD) as smsc:
        stack, flow = NotifyStack.start(smsc)
        try:
            with AttachRace(flow) as attach_race:
                yield attach_race
        finally:
            stack.stop()


@pytest.mark.parametrize("round_number", range(ROUNDS))
def test_twenty_processes_attaching_at_once_send_one_notice_and_charge_once(
    race: AttachRace, round_number: int
) -> None:
    outcome = race.round(f"+4479111{40000 + round_number:05d}", ["+447912000111", "+447912000111", None])
    assert outcome.outcomes.count("started") >= 1, outcome.outcomes
    assert set(outcome.outcomes) <= {"started", "in_flight", "no_pending"}, outcome.outcomes
    assert (outcome.sent, outcome.sms, outcome.fees) == (1, 1, 1), outcome
    assert race.flow.pending(outcome.subscriber) == []


@pytest.mark.soak
def test_fifty_rounds_of_twenty_processes_attaching_at_once(race: AttachRace) -> None:
    """The long variant: `pytest -m soak tests/e2e/test_attach_race.py` (50 rounds)."""
    for round_number in range(50):
        outcome = race.round(f"+4479111{41000 + round_number:05d}", ["+447912000111", None])
        assert (outcome.sent, outcome.sms, outcome.fees) == (1, 1, 1), (round_number, outcome)

"""One masker, one format: every log and CLI line shows a number as mcn_core.numbers.mask does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcn_core.numbers import hide_numbers_in_text, mask
from mcn_smpp.outcomes import Outcome, PartResult, SendResult

ROOT = Path(__file__).resolve().parents[2]
#: every package that ships (tests and benchmarks may build masked strings to compare with)
SHIPPED = ["layers", "functions", "gateway", "receiver", "edge", "cli", "devkit"]
THE_MASKER = ROOT / "layers" / "core" / "mcn_core" / "numbers.py"

#: a function named like a masker, or a string of stars built by repetition ("*" * n)
_MASKER_DEFINITION = re.compile(r"^\s*(?:async\s+)?def\s+(\w*mask\w*)\s*\(", re.MULTILINE | re.IGNORECASE)
_STAR_REPEAT = re.compile(r"""["']\*+["']\s*\*|\*\s*["']\*+["']""")


def _shipped_sources() -> list[Path]:
    return sorted(path for name in SHIPPED if (ROOT / name).is_dir() for path in (ROOT / name).rglob("*.py"))


@pytest.mark.parametrize(
    ("number", "shown"),
    [
        ("+447911123456", "+44*******456"),
        ("+4915112345678", "+49********678"),
        ("447911123456", "44*******456"),  # as an SMSC writes it (no '+'): same digits shown
        ("+123456", "+12*456"),
        ("12345", "***"),
        ("", "-"),
        (None, "-"),
    ],
)
def test_one_format(number: str | None, shown: str) -> None:
    assert mask(number) == shown


def test_smpp_results_are_shown_through_the_one_masker() -> None:
    result = SendResult("+447911123456", "gsm7", 1, (PartResult(1, 1, Outcome.ACCEPTED, message_id="m1"),))
    assert result.to_dict(mask)["destination"] == "+44*******456"


def test_no_second_masker_in_shipped_code() -> None:
    sources = _shipped_sources()
    assert THE_MASKER in sources
    offenders = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        relative = path.relative_to(ROOT)
        for match in _MASKER_DEFINITION.finditer(text):
            if not (path == THE_MASKER and match.group(1) == "mask"):
                offenders.append(f"{relative}: def {match.group(1)}")
        if path != THE_MASKER and _STAR_REPEAT.search(text):
            offenders.append(f"{relative}: builds a string of '*' (mask numbers with mcn_core.numbers.mask)")
    assert not offenders, "a second number masker:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("+447911123456 2x, last 21:18", "+44*******456 2x, last 21:18"),
        ("+905321234567 2 kez, son 21:18", "+90*******567 2 kez, son 21:18"),
        ("Call 07911123456 or 447911123456.", "Call 07******456 or 44*******456."),
        ("Private number at 21:18, on 2026-12-01", "Private number at 21:18, on 2026-12-01"),  # times, dates stay
        ("Reply STOP to 62226", "Reply STOP to 62226"),  # a short code is not personal
        ("ref abc1234567", "ref abc1234567"),  # digits inside a word are not a number
    ],
)
def test_numbers_in_a_text_are_shown_through_the_one_masker(text: str, shown: str) -> None:
    assert hide_numbers_in_text(text) == shown


@given(
    before=st.text(alphabet="abc :,.\n", max_size=20),
    number=st.from_regex(r"\+?[1-9][0-9]{7,14}", fullmatch=True),
    after=st.text(alphabet="abc :,.\n", max_size=20),
)
def test_no_number_survives_in_a_text(before: str, number: str, after: str) -> None:
    shown = hide_numbers_in_text(f"{before} {number} {after}")
    assert number not in shown and mask(number) in shown

import pytest

from mcn_core.numbers import InvalidNumberError, mask, to_e164


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("07911123456", "+447911123456"),  # national format, default region
        ("+447911123456", "+447911123456"),
        ("00447911123456", "+447911123456"),  # international prefix
        (" 07911 123 456 ", "+447911123456"),
        ("004915112345678", "+4915112345678"),  # foreign caller
    ],
)
def test_numbers_are_normalised_to_e164(raw: str, expected: str) -> None:
    assert to_e164(raw, "GB") == expected


@pytest.mark.parametrize("raw", ["12345", "not a number", "+44", "07700900123"])
def test_invalid_numbers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidNumberError):
        to_e164(raw, "GB")


def test_mask_keeps_only_country_hint_and_last_digits() -> None:
    assert mask("+447911123456") == "+44*******456"
    assert "7911123" not in mask("+447911123456")
    assert mask(None) == "-"
    assert mask("123") == "***"

"""Phone numbers: E.164 normalisation, and `mask`, the project's one masker for logs and output.

Numbers are personal data: every log line and every CLI line shows one through `mask`
(``+447911123456`` -> ``+44*******456``) and nothing else (tests/unit/test_masking.py greps for a
second masker). It lives here because every user already has mcn_core: the four functions
(ingest has only the core layer), the gateway and receiver (they build events from mcn_core
models) and the CLI. The SMPP layer (mcn_smpp) may be published alone and so must not import
mcn_core: it never logs a number itself, and takes this masker from its caller where it shows
one (`SendResult.to_dict(mask)`).
"""

from __future__ import annotations

import re
from functools import lru_cache


class InvalidNumberError(ValueError):
    """A number that cannot be a real subscriber number in E.164."""


@lru_cache(maxsize=65536)
def to_e164(raw: str, default_region: str) -> str:
    """Normalise a number as received (national or international) to E.164.

    Cached because a batch repeats the same subscriber and callers many times and
    phonenumbers' parse is the dominant CPU cost of ingest.
    """
    import phonenumbers  # ~20 ms: loaded with the first number, not at cold import

    candidate = raw.strip()
    if candidate.startswith("00"):
        candidate = "+" + candidate[2:]
    try:
        parsed = phonenumbers.parse(candidate, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumberError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidNumberError("not a valid number for its country")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def smsc_number_to_e164(raw: str, default_region: str) -> str:
    """E.164 of a number an SMSC gives (an MO's originator, a receipt's handset).

    '+44…'/'0044…' as is, '07…' national, bare digits international first: SMSCs usually give
    these numbers as international digits without '+' (TON 1).
    """
    candidate = raw.strip()
    if candidate.startswith(("+", "00")) or candidate.startswith("0"):
        return to_e164(candidate, default_region)
    if candidate.isdigit():
        try:
            return to_e164("+" + candidate, default_region)
        except InvalidNumberError:
            pass
    return to_e164(candidate, default_region)


def mask(number: str | None) -> str:
    """Keep the country-code hint and the last 3 digits: enough to correlate, not to identify.

    ``+447911123456`` -> ``+44*******456``; 5 digits or fewer -> ``***``; nothing -> ``-``.
    """
    if not number:
        return "-"
    digits = number.lstrip("+")
    if len(digits) <= 5:
        return "***"
    prefix = "+" if number.startswith("+") else ""
    return f"{prefix}{digits[:2]}{'*' * (len(digits) - 5)}{digits[-3:]}"


#: a phone number in a text as Compose writes it (E.164, or digits as the network gave them): 6 or
#: more digits in one run, '+' optional. Times, dates and counts never have 6 digits in a run.
_NUMBER_IN_TEXT = re.compile(r"(?<![\w+])\+?\d{6,}(?!\w)")


def hide_numbers_in_text(text: str) -> str:
    """Every phone number in a text (an SMS as composed) shown through `mask`."""
    return _NUMBER_IN_TEXT.sub(lambda found: mask(found.group()), text)

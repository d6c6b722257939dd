"""The smpplib 2.2.4 bugs the layer works around, pinned so an upgrade that fixes them is noticed."""

from __future__ import annotations

import warnings

from smpplib import gsm as smpplib_gsm

from mcn_smpp import encode_message
from mcn_smpp.gsm0338 import gsm7_encode


def test_smpplib_maps_backtick_to_section_sign_code_we_do_not() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert smpplib_gsm.gsm_encode("`") == b"\x5f"  # 0x5F is '§' on a handset
    assert encode_message("`").parts[0].data_coding == 0x08


def test_smpplib_splits_escape_pairs_we_do_not() -> None:
    text = "a" * 152 + "€" + "b" * 10
    parts, _, _ = smpplib_gsm.make_parts(text)
    assert parts[0].endswith(b"\x1b")  # ESC left dangling at the end of part 1
    ours = encode_message(text).parts
    assert not ours[0].short_message.endswith(b"\x1b")
    assert b"".join(p.short_message[6:] for p in ours) == gsm7_encode(text)


def test_smpplib_splits_surrogate_pairs_we_do_not() -> None:
    text = "ж" * 66 + "😀" + "ж" * 5
    parts, _, _ = smpplib_gsm.make_parts(text)
    # The high surrogate ends part 1: neither part decodes on its own.
    assert parts[0][6:].decode("utf-16-be", errors="replace").endswith("\ufffd")
    ours = encode_message(text).parts
    assert [p.short_message[6:].decode("utf-16-be") for p in ours] == ["ж" * 66, "😀" + "ж" * 5]

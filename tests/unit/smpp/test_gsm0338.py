"""GSM 03.38 encoding and segmentation, including the smpplib bugs the layer fixes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcn_smpp import encode_message, segments
from mcn_smpp.gsm0338 import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    TURKISH_SINGLE_SHIFT,
    MessageTooLong,
    decode_body,
    gsm7_decode,
    gsm7_encode,
    gsm7_pack,
    split_udh,
)

GSM_CHARS = "".join(c for c in GSM7_BASIC if c != "\x1b") + "".join(GSM7_EXTENSION)
TURKISH_CHARS = GSM_CHARS + "".join(TURKISH_SINGLE_SHIFT)


def test_limits_gsm7_single_and_multipart() -> None:
    assert segments("a" * 160).count == 1
    plan = segments("a" * 161)
    assert (plan.encoding, plan.count, plan.units) == ("gsm7", 2, (153, 8))
    assert segments("a" * 306).count == 2
    assert segments("a" * 307).count == 3


def test_limits_ucs2_single_and_multipart() -> None:
    assert segments("ж" * 70).encoding == "ucs2"
    assert segments("ж" * 70).count == 1
    assert segments("ж" * 71).units == (67, 4)
    assert segments("ж" * 134).count == 2
    assert segments("ж" * 135).count == 3


def test_udh16_leaves_152_septets_and_66_ucs2_units() -> None:
    assert segments("a" * 161, concat="udh16").units == (152, 9)
    assert segments("ж" * 71, concat="udh16").units == (66, 5)


def test_udh16_header_bytes() -> None:
    parts = encode_message("a" * 161, concat="udh16", reference=0x1234).parts
    assert [p.udh.hex() for p in parts] == ["060804123402" + "01", "060804123402" + "02"]


def test_extension_characters_cost_two_septets() -> None:
    assert segments("€" * 80).units == (160,)
    assert segments("€" * 80 + "a").count == 2


def test_escape_pair_is_never_split_across_parts() -> None:
    # 152 'a' + '€': the escape pair would straddle septets 153/154, so '€' moves whole to part 2.
    message = encode_message("a" * 152 + "€" + "b" * 10, reference=9)
    first, second = message.parts
    assert first.short_message == bytes.fromhex("0500030902 01".replace(" ", "")) + b"a" * 152
    assert second.short_message.startswith(bytes.fromhex("050003090202") + b"\x1b\x65")


def test_surrogate_pair_is_never_split_across_parts() -> None:
    message = encode_message("ж" * 66 + "😀" + "ж" * 5, reference=1)
    first, second = message.parts
    assert first.text == "ж" * 66
    assert second.text == "😀жжжжж"
    assert second.short_message[6:].decode("utf-16-be") == "😀жжжжж"


def test_backtick_is_not_gsm_and_section_sign_is() -> None:
    # smpplib maps '`' to 0x5F, which is '§' on the handset.
    assert segments("`").encoding == "ucs2"
    assert gsm7_encode("§¿") == b"\x5f\x60"
    with pytest.raises(UnicodeEncodeError):
        gsm7_encode("`")


def test_exact_bytes_of_a_known_message() -> None:
    assert gsm7_encode("@£$ {€}") == bytes.fromhex("000102201b281b651b29")
    part = encode_message("Hi €").parts[0]
    assert (part.short_message, part.data_coding, part.esm_class) == (b"Hi \x1b\x65", 0, 0)


def test_turkish_text_fits_one_gsm7_segment_with_single_shift() -> None:
    text = "Sayın müşterimiz, 3 cevapsız çağrınız var: Ayşe 2 kez 09:14, Ali 1 kez 10:02. Arayanları şimdi arayın."
    assert segments(text).encoding == "ucs2"
    assert segments(text).count == 2
    plan = segments(text, national_shift="turkish")
    assert (plan.encoding, plan.count) == ("gsm7-turkish", 1)
    part = encode_message(text, national_shift="turkish").parts[0]
    assert part.udh == bytes.fromhex("03240101")
    assert part.esm_class == 0x40
    assert decode_body(part.short_message[4:], 0, part.udh) == text


def test_turkish_multipart_udh_has_concat_and_shift_ies() -> None:
    text = "ş" * 100
    message = encode_message(text, national_shift="turkish", reference=5)
    # 'ş' costs 2 septets: 149 septets per part with the 9-octet UDH -> 74 chars.
    assert [p.udh.hex() for p in message.parts] == ["08000305020124" + "0101", "08000305020224" + "0101"]
    assert message.plan.units == (148, 52)


def test_turkish_falls_back_to_ucs2_when_that_needs_fewer_segments() -> None:
    text = "ş" * 140 + "ж"
    assert segments(text, national_shift="turkish").encoding == "ucs2"


def test_payload_mode_is_one_pdu_counting_air_segments() -> None:
    message = encode_message("a" * 400, concat="payload")
    assert len(message.parts) == 1
    assert message.parts[0].message_payload == b"a" * 400
    assert message.parts[0].short_message == b""
    assert message.plan.count == 3


def test_too_long_and_bad_options() -> None:
    with pytest.raises(MessageTooLong):
        segments("ж" * 67 * 256)
    with pytest.raises(ValueError, match="national_shift"):
        segments("x", national_shift="klingon")
    with pytest.raises(ValueError, match="concat"):
        segments("x", concat="udh7")  # type: ignore[arg-type]


def test_pack_known_vector() -> None:
    # "hellohello" packed, a classic TS 23.038 example.
    assert gsm7_pack(gsm7_encode("hellohello")).hex() == "e8329bfd4697d9ec37"


def test_split_udh() -> None:
    assert split_udh(b"\x05\x00\x03\x01\x02\x01abc", 0x40) == (b"\x05\x00\x03\x01\x02\x01", b"abc")
    assert split_udh(b"abc", 0) == (b"", b"abc")


texts = st.one_of(
    st.text(alphabet=GSM_CHARS, max_size=700),
    st.text(alphabet=TURKISH_CHARS, max_size=700),
    st.text(max_size=400),
    st.text(alphabet=GSM_CHARS + "😀ж", max_size=400),
)


@settings(max_examples=300, deadline=None)
@given(text=texts, concat=st.sampled_from(["udh8", "udh16"]), shift=st.sampled_from([None, "turkish"]))
def test_parts_rejoin_and_respect_limits(text: str, concat: str, shift: str | None) -> None:
    message = encode_message(text, concat=concat, national_shift=shift)  # type: ignore[arg-type]
    assert "".join(p.text for p in message.parts) == text
    assert len(message.parts) == message.plan.count
    for part in message.parts:
        udh, body = split_udh(part.short_message, part.esm_class)
        assert decode_body(body, part.data_coding, udh) == part.text
        if part.data_coding == 0x08:
            assert len(part.short_message) <= 140
            # never a lone surrogate at a boundary
            assert body.decode("utf-16-be") == part.text
        else:
            udh_septets = (len(udh) * 8 + 6) // 7
            assert udh_septets + len(body) <= 160
            assert not body.endswith(b"\x1b") or body.endswith(b"\x1b\x1b")
            assert gsm7_decode(body, message.plan.national_shift) == part.text


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=GSM_CHARS, min_size=1, max_size=500))
def test_gsm_text_never_uses_ucs2(text: str) -> None:
    plan = segments(text)
    assert plan.encoding == "gsm7"
    assert sum(plan.units) == len(gsm7_encode(text))

"""One node-smpp SMSC per test module; each test resets its faults and events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from receiver_kit import PASSWORD

from mcn_devkit.smsc import LocalSmsc


@pytest.fixture(scope="module")
def smsc() -> Iterator[LocalSmsc]:
    with LocalSmsc(system_id="mcn", password=PASSWORD) as local:
        yield local

"""Shared fixtures: the embedded AWS with template.yaml deployed (one per test module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcn_devkit.embedded import EmbeddedStack


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack() as local_stack:
        yield local_stack

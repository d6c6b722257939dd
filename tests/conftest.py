"""Shared fixtures: the embedded AWS with template.yaml deployed (one per test module)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcn_cli.localstack import LocalStack


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack() as local_stack:
        yield local_stack

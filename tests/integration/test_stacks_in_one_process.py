"""Regression: a process that runs several embedded stacks one after another (the test suite, a
developer's session) must not keep clients bound to a stopped stack's endpoint."""

from __future__ import annotations

import pytest

from mcn_devkit.embedded import EmbeddedStack
from mcn_devkit.events import load_event
from mcn_devkit.template import PROJECT_ROOT

pytestmark = pytest.mark.integration
COMPOSE = PROJECT_ROOT / "events" / "notify" / "compose.json"


@pytest.mark.parametrize("stack_name", [None, "mcn-same-name"])
def test_second_stack_reads_its_own_config_and_tables(stack_name: str | None) -> None:
    for _ in range(2):
        with EmbeddedStack(stack_name=stack_name) as stack:
            notice = stack.invoke("ComposeFunction", load_event(COMPOSE))
            assert notice["action"] == "nothing"  # no calls in a fresh stack: read from *this* stack

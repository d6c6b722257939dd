"""Receipts and keywords unit tests: the operator defaults come from template.yaml itself."""

from __future__ import annotations

import json

import pytest

from mcn_core.models.config import NotifyConfig
from mcn_devkit.template import ResolvedTemplate, load_template


@pytest.fixture(scope="session")
def template_config() -> NotifyConfig:
    resolved = ResolvedTemplate(load_template(), "unit")
    value = resolved.resolve(resolved.resources["NotifyConfigParameter"]["Properties"])["Value"]
    return NotifyConfig.from_data(json.loads(value))

"""The operator defaults, read from template.yaml itself (the single source of truth)."""

from __future__ import annotations

import json

import pytest

from mcn_core.models.config import NotifyConfig
from mcn_devkit.template import ResolvedTemplate, load_template


@pytest.fixture(scope="session")
def default_config() -> NotifyConfig:
    resolved = ResolvedTemplate(load_template(), "unit")
    value = resolved.resolve(resolved.resources["NotifyConfigParameter"]["Properties"])["Value"]
    return NotifyConfig.from_data(json.loads(value))

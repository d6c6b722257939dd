"""Every file in events/ is a valid input for its function and is exercised here."""

from __future__ import annotations

import pytest

from mcn_cli.events import load_event, rebase_times
from mcn_cli.localstack import LocalStack
from mcn_cli.template import PROJECT_ROOT

pytestmark = pytest.mark.integration
EVENT_FILES = sorted((PROJECT_ROOT / "events").rglob("*.json"))
FUNCTION_OF_FOLDER = {"ingest": "IngestFunction"}


def test_every_event_folder_maps_to_a_template_function(stack: LocalStack) -> None:
    functions = stack.resolved.resources_of_type("AWS::Serverless::Function")
    folders = {path.relative_to(PROJECT_ROOT / "events").parts[0] for path in EVENT_FILES}
    assert folders <= set(FUNCTION_OF_FOLDER)
    assert set(FUNCTION_OF_FOLDER.values()) <= set(functions)


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: str(p.relative_to(PROJECT_ROOT / "events")))
def test_sample_event_runs_through_its_function(stack: LocalStack, path) -> None:
    folder = path.relative_to(PROJECT_ROOT / "events").parts[0]
    response = stack.invoke(FUNCTION_OF_FOLDER[folder], rebase_times(load_event(path)))
    assert response["results"], response
    expected_rejections = path.stem == "malformed"
    rejected = [r for r in response["results"] if r["outcome"] == "rejected"]
    assert bool(rejected) == expected_rejections, response

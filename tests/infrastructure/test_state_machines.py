"""The ASL files that deploy: valid Amazon States Language, wired to the template's functions.

cfn-lint does not look inside AWS::Serverless::StateMachine definitions, so the ASL is checked
with asl-validator (the npm package, installed by `make node` from package-lock.json).
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from mcn_devkit.template import PROJECT_ROOT, ResolvedTemplate, load_template

RESOLVED = ResolvedTemplate(load_template(), "asl")
MACHINES = RESOLVED.resources_of_type("AWS::Serverless::StateMachine")
VALIDATOR = PROJECT_ROOT / "node_modules" / ".bin" / "asl-validator"


def definition(logical_id: str) -> str:
    return (PROJECT_ROOT / MACHINES[logical_id]["Properties"]["DefinitionUri"]).read_text()


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_asl_validates(logical_id: str) -> None:
    assert VALIDATOR.exists(), "run `make node` (asl-validator comes from package-lock.json)"
    path = PROJECT_ROOT / MACHINES[logical_id]["Properties"]["DefinitionUri"]
    result = subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_substitutions_match_placeholders(logical_id: str) -> None:
    placeholders = set(re.findall(r"\$\{(\w+)\}", definition(logical_id)))
    substitutions = set(MACHINES[logical_id]["Properties"].get("DefinitionSubstitutions", {}))
    assert placeholders == substitutions


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_every_task_calls_a_function_the_machine_may_invoke(logical_id: str) -> None:
    props = MACHINES[logical_id]["Properties"]
    states = json.loads(definition(logical_id))["States"]
    functions = set(RESOLVED.resources_of_type("AWS::Serverless::Function"))
    allowed = {
        policy["LambdaInvokePolicy"]["FunctionName"]["Ref"]
        for policy in props["Policies"]
        if isinstance(policy, dict) and "LambdaInvokePolicy" in policy
    }
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        placeholder = re.fullmatch(r"\$\{(\w+)\}", state["Resource"])
        assert placeholder, f"{name}: tasks call the template's functions"
        # `!Ref XFunction.Alias`: the task invokes the function's `live` alias (safe deploys).
        target = props["DefinitionSubstitutions"][placeholder.group(1)]["Ref"].removesuffix(".Alias")
        assert target in functions and target in allowed, f"{name} -> {target}"


def test_notify_is_express_and_the_wait_is_standard() -> None:
    assert MACHINES["NotifyStateMachine"]["Properties"]["Type"] == "EXPRESS"
    assert MACHINES["QuietHoursStateMachine"]["Properties"]["Type"] == "STANDARD"
    waits = [s for s in json.loads(definition("NotifyStateMachine"))["States"].values() if s["Type"] == "Wait"]
    # Only the short send back-off waits inside the Express machine (its executions last <= 5 min).
    assert [w.get("SecondsPath") for w in waits] == ["$.send.retry_after_s"]

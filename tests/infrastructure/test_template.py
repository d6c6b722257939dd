"""template.yaml itself: lint, and the properties operators rely on."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from mcn_devkit.template import PROJECT_ROOT, TEMPLATE_PATH, ResolvedTemplate, load_template

TEMPLATE = load_template()
RESOLVED = ResolvedTemplate(TEMPLATE, "lint")
FUNCTIONS = RESOLVED.resources_of_type("AWS::Serverless::Function")
TABLES = RESOLVED.resources_of_type("AWS::DynamoDB::Table")


def test_cfn_lint_passes() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE_PATH)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_functions_run_python313_on_arm64() -> None:
    assert FUNCTIONS
    for logical_id in FUNCTIONS:
        assert RESOLVED.function_property(logical_id, "Runtime") == "python3.13"
        assert RESOLVED.function_property(logical_id, "Architectures") == ["arm64"]


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_every_function_handler_exists(logical_id: str) -> None:
    props = FUNCTIONS[logical_id]["Properties"]
    module_name, _, attribute = props["Handler"].rpartition(".")
    path = PROJECT_ROOT / props["CodeUri"] / f"{module_name}.py"
    assert path.is_file(), f"{logical_id}: {path} missing"
    spec = importlib.util.spec_from_file_location(f"check_{logical_id}", path)
    assert spec and spec.loader
    source = path.read_text()
    assert f"def {attribute}(" in source


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_environment_names_its_service(logical_id: str) -> None:
    env = RESOLVED.function_environment(logical_id)
    assert env["POWERTOOLS_SERVICE_NAME"].startswith("mcn-")
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "MissedCallNotice"
    assert "POWERTOOLS_LOG_LEVEL" in env


@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_policies_are_least_privilege(logical_id: str) -> None:
    policies = FUNCTIONS[logical_id]["Properties"].get("Policies", [])
    for policy in policies:
        assert isinstance(policy, dict) and "Statement" in policy, "use explicit statements, not broad SAM templates"
        for statement in policy["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert all("*" not in action for action in actions), statement
            assert statement["Resource"] != "*" or all(
                action.startswith(("cloudwatch:", "xray:")) for action in actions
            ), statement


def test_ingest_may_only_put_calls_and_read_policy() -> None:
    statements = FUNCTIONS["IngestFunction"]["Properties"]["Policies"][0]["Statement"]
    granted = {(a, RESOLVED.resolve(s["Resource"])) for s in statements for a in s["Action"]}
    calls, subscribers = RESOLVED.arn("MissedCallsTable"), RESOLVED.arn("SubscribersTable")
    assert granted == {
        ("dynamodb:PutItem", calls),
        ("dynamodb:BatchGetItem", subscribers),
        ("dynamodb:GetItem", subscribers),
    }


def test_tables_are_on_demand_and_encrypted() -> None:
    assert {"MissedCallsTable", "SubscribersTable", "FeesTable", "MessageIdsTable"} <= set(TABLES)
    for table in TABLES.values():
        props = table["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["SSESpecification"]["SSEEnabled"] is True


def test_missed_calls_expire_by_ttl_and_fees_have_pitr() -> None:
    ttl = TABLES["MissedCallsTable"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": "expires_at", "Enabled": True}
    fees = TABLES["FeesTable"]["Properties"]
    assert fees["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    # Every step is idempotent on its own key (call_ref, the notify lock, the notification id, message_ref):
    # a Powertools idempotency table would add a write per invocation and protect nothing more.
    assert "IdempotencyTable" not in TABLES


def test_layers_are_built_by_sam() -> None:
    layers = RESOLVED.resources_of_type("AWS::Serverless::LayerVersion")
    assert {"CoreLayer", "SmppLayer"} <= set(layers)
    for layer in layers.values():
        content = PROJECT_ROOT / layer["Properties"]["ContentUri"]
        assert (content / "requirements.txt").is_file()


def test_every_function_and_layer_is_built_by_lambda_build_mk() -> None:
    # Bytecode compiled ahead for every artifact (cold start): SAM's python builder ships none.
    built = {
        **RESOLVED.resources_of_type("AWS::Serverless::LayerVersion"),
        **RESOLVED.resources_of_type("AWS::Serverless::Function"),
    }
    for logical_id, resource in built.items():
        assert resource.get("Metadata", {}).get("BuildMethod") == "makefile", logical_id
        props = resource["Properties"]
        makefile = PROJECT_ROOT / props.get("ContentUri", props.get("CodeUri", "")) / "Makefile"
        assert "lambda-build.mk" in makefile.read_text(), makefile


def test_operator_parameters_and_outputs() -> None:
    params = TEMPLATE["Parameters"]
    assert params["RetentionHours"]["Default"] == 72
    assert {"Stage", "DefaultRegion", "RetentionHours", "IngestReservedConcurrency"} <= set(params)
    assert {"MissedCallsTableName", "FeesTableName", "IngestFunctionName"} <= set(TEMPLATE["Outputs"])


def test_reserved_concurrency_is_optional() -> None:
    unreserved = ResolvedTemplate(TEMPLATE, "x")
    assert unreserved.function_property("IngestFunction", "ReservedConcurrentExecutions") is None
    reserved = ResolvedTemplate(TEMPLATE, "x", parameter_overrides={"IngestReservedConcurrency": "25"})
    assert reserved.function_property("IngestFunction", "ReservedConcurrentExecutions") == "25"


def test_samconfig_has_default_and_prod() -> None:
    config = tomllib.loads((PROJECT_ROOT / "samconfig.toml").read_text())
    assert config["default"]["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    assert config["prod"]["global"]["parameters"]["stack_name"] == "mcn-prod"
    assert 'Stage="prod"' in config["prod"]["deploy"]["parameters"]["parameter_overrides"]


def test_operators_are_alarmed_on_failed_notices_and_ingest_errors() -> None:
    """The three alarms that came first; the rest: tests/infrastructure/test_operations.py."""
    alarms = RESOLVED.resources_of_type("AWS::CloudWatch::Alarm")
    assert {"NoticeFailuresAlarm", "IngestErrorsAlarm", "RejectedEventsAlarm"} <= set(alarms)
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    failures = alarms["NoticeFailuresAlarm"]["Properties"]["Metrics"]
    watched = {m["MetricStat"]["Metric"]["MetricName"] for m in failures if "MetricStat" in m}
    assert {"ExecutionsFailed", "ExecutionsTimedOut"} <= watched
    for metric in failures:
        if "MetricStat" in metric:
            assert metric["MetricStat"]["Metric"]["Dimensions"][0]["Value"] == {"Ref": "NotifyStateMachine"}


def test_one_function_holds_every_smsc_bind_within_the_fleet_budget() -> None:
    """SmscMaxBinds bounds the binds and SmscLicenceTps the rate, however Lambda scales (mcn_smpp.budget)."""
    from mcn_smpp import SmppConfig
    from mcn_smpp.budget import FleetBudget

    resolved = ResolvedTemplate(TEMPLATE, "x", parameter_overrides={"SmscLicenceTps": "50", "SmscMaxBinds": "4"})
    binders = [f for f in FUNCTIONS if "SMPP_HOST" in resolved.function_environment(f)]
    assert binders == ["SendFunction"]
    assert resolved.function_property("SendFunction", "ReservedConcurrentExecutions") == "4"
    env = {**resolved.function_environment("SendFunction"), "SMPP_PASSWORD_SECRET_ID": "arn"}
    config = SmppConfig.from_env(env)
    budget = FleetBudget.from_env(env)
    assert budget is not None and budget.instances == 4
    assert config.binds * budget.instances <= 4
    assert (config.tps or 0) * budget.instances + config.tps_burst * budget.instances <= 50
    # keyword replies are handed to it, and a reply it ran is never run twice
    receipts = resolved.function_environment("ReceiptsFunction")
    assert resolved.physical_name("SendFunction") in receipts["SMS_SUBMIT_FUNCTION"]  # its live alias
    assert FUNCTIONS["SendFunction"]["Properties"]["EventInvokeConfig"]["MaximumRetryAttempts"] == 0


@pytest.mark.parametrize("policy", ["resubmit", "give_up"])
def test_the_lost_response_policy_is_a_parameter_the_send_function_obeys(policy: str) -> None:
    from mcn_smpp import SmppConfig

    assert TEMPLATE["Parameters"]["SmscLostResponsePolicy"]["AllowedValues"] == ["resubmit", "give_up"]
    resolved = ResolvedTemplate(TEMPLATE, "x", parameter_overrides={"SmscLostResponsePolicy": policy})
    env = {**resolved.function_environment("SendFunction"), "SMPP_PASSWORD_SECRET_ID": "arn"}
    assert SmppConfig.from_env(env).lost_response_policy == policy

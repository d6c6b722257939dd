"""What an on-call engineer relies on: logs kept, alarms with a runbook, a dashboard of real metrics, safe deploys.

The dashboard and the alarms may only name custom metrics that the code emits: the EMF metric
names are read from the code itself (calls of `mcn_core.observability.count`, and `metric=`
arguments), with the values of an f-string's placeholder enumerated from the models.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args, get_type_hints

import pytest

from mcn_devkit.template import PROJECT_ROOT, ResolvedTemplate, load_template

TEMPLATE = load_template()
RESOLVED = ResolvedTemplate(TEMPLATE, "ops")
RESOURCES = TEMPLATE["Resources"]
FUNCTIONS = RESOLVED.resources_of_type("AWS::Serverless::Function")
MACHINES = RESOLVED.resources_of_type("AWS::Serverless::StateMachine")
ALARMS = RESOLVED.resources_of_type("AWS::CloudWatch::Alarm")
RUNBOOK = PROJECT_ROOT / "docs" / "operations" / "runbook.md"
NAMESPACE = "MissedCallNotice"
CODE_ROOTS = ("functions", "layers/core")


# ---------------------------------------------------------------------- the metrics the code emits
def _first_string_args(call_name: str) -> set[str]:
    """The string literals passed first to `call_name(...)` anywhere in the domain layer (result outcomes)."""
    values: set[str] = set()
    for path in (PROJECT_ROOT / "layers/core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _callee(node) == call_name and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    values.add(first.value)
    return values


def _enumerations() -> dict[tuple[str, str], Iterable[str]]:
    """(literal prefix, placeholder field) -> the values the placeholder can take, from the code's own types.

    The field is the attribute (or variable) the value comes from: `Receipts{receipt.outcome...}` is
    ("Receipts", "outcome"), whatever the variable holding the result is called.
    """
    from mcn_core.logic.attach import AttachOutcome
    from mcn_core.logic.origination import RESULT_OUTCOMES
    from mcn_core.logic.receipts import FINAL_STATUSES
    from mcn_core.models.config import KEYWORD_COMMANDS
    from mcn_core.models.inbound import RECEIPT_STATES
    from mcn_core.models.notice import MessageProgress, Notice
    from mcn_core.models.origination import FlashCallOutcome
    from mcn_core.models.outcomes import Outcome

    # mcn_core.logic.keywords.parse_command names commands this way (UNKNOWN: anything else).
    keywords = ["NOTIFYME" if c == "notify_me" else c.upper() for c in KEYWORD_COMMANDS] + ["UNKNOWN"]
    return {
        ("MissedCalls", "outcome"): [o.value for o in Outcome],
        ("Attach", "outcome"): [o.value for o in AttachOutcome],
        ("Notice", "action"): get_args(get_type_hints(Notice)["action"]),
        ("Sms", "outcome"): get_args(get_type_hints(MessageProgress)["outcome"]),
        ("Receipt", "state"): RECEIPT_STATES,
        ("Receipts", "outcome"): _first_string_args("ReceiptResult"),
        ("FeeStatus", "status"): FINAL_STATUSES,
        ("Keyword", "keyword"): keywords,
        ("Mo", "outcome"): _first_string_args("MoResult") - {"applied"},
        ("FlashCallOutcomes", "outcome"): RESULT_OUTCOMES,
        ("FlashCall", "call_outcome"): [o.value for o in FlashCallOutcome],
    }


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _placeholder_root(expression: ast.expr) -> ast.expr:
    """`str(result.status).capitalize()` -> `result.status`: the name or attribute the value comes from."""
    methods = {id(node.func) for node in ast.walk(expression) if isinstance(node, ast.Call)}
    for node in ast.walk(expression):
        # `result.status` (a value), not `outcome.capitalize` (a method called on the value `outcome`)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and id(node) not in methods:
            return node
    for node in ast.walk(expression):
        if isinstance(node, ast.Name) and id(node) not in methods:
            return node
    raise AssertionError(f"no variable in {ast.unparse(expression)}")


def _expand(joined: ast.JoinedStr, enumerations: dict[tuple[str, str], Iterable[str]]) -> set[str]:
    """Every name an f-string metric can take: its placeholder evaluated for each enumerated value."""
    placeholders = [v for v in joined.values if isinstance(v, ast.FormattedValue)]
    assert len(placeholders) == 1, f"one placeholder per metric name: {ast.unparse(joined)}"
    prefix = "".join(v.value for v in joined.values if isinstance(v, ast.Constant)).split("{")[0]
    root = _placeholder_root(placeholders[0].value)
    key = (prefix, root.attr if isinstance(root, ast.Attribute) else ast.unparse(root))
    assert key in enumerations, (
        f"metric {ast.unparse(joined)}: add the values of {key[1]!r} to _enumerations() so the dashboard can be checked"
    )
    code = compile(ast.Expression(joined), "<metric>", "eval")
    names = set()
    for value in enumerations[key]:
        if isinstance(root, ast.Name):
            scope: dict[str, Any] = {root.id: value}
        else:
            assert isinstance(root, ast.Attribute) and isinstance(root.value, ast.Name)
            scope = {root.value.id: SimpleNamespace(**{root.attr: value})}
        names.add(eval(code, {"__builtins__": {"str": str}}, scope))  # our own source: one f-string
    return names


def _handler_services() -> dict[Path, set[str]]:
    """Handler module -> the POWERTOOLS_SERVICE_NAME of every function that runs it (the EMF `service` dimension)."""
    services: dict[Path, set[str]] = {}
    for logical_id, resource in FUNCTIONS.items():
        props = resource["Properties"]
        module = props["Handler"].rpartition(".")[0]
        path = (PROJECT_ROOT / props["CodeUri"] / f"{module}.py").resolve()
        services.setdefault(path, set()).add(RESOLVED.function_environment(logical_id)["POWERTOOLS_SERVICE_NAME"])
    return services


ANY_SERVICE = "*"


def emitted_metrics() -> set[tuple[str, str]]:
    """(metric name, service) for every EMF metric the code can emit; service `*` for shared layer code."""
    enumerations = _enumerations()
    services = _handler_services()
    emitted: set[tuple[str, str]] = set()
    for root in CODE_ROOTS:
        for path in (PROJECT_ROOT / root).rglob("*.py"):
            tree = ast.parse(path.read_text())
            counts_metrics = any(
                isinstance(node, ast.ImportFrom)
                and node.module == "mcn_core.observability"
                and any(alias.name == "count" for alias in node.names)
                for node in ast.walk(tree)
            )
            names: set[str] = set()
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                candidates = [kw.value for kw in node.keywords if kw.arg == "metric"]
                if counts_metrics and _callee(node) == "count" and isinstance(node.func, ast.Name) and node.args:
                    candidates.append(node.args[0])
                while any(isinstance(c, ast.IfExp) for c in candidates):  # count("A" if ok else "B")
                    candidates = [
                        branch
                        for c in candidates
                        for branch in ((c.body, c.orelse) if isinstance(c, ast.IfExp) else (c,))
                    ]
                for candidate in candidates:
                    if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
                        names.add(candidate.value)
                    elif isinstance(candidate, ast.JoinedStr):
                        names |= _expand(candidate, enumerations)
            for service in services.get(path.resolve(), {ANY_SERVICE}):
                emitted |= {(name, service) for name in names}
    return emitted


EMITTED = emitted_metrics()


def is_emitted(name: str, service: str | None) -> bool:
    return (name, service) in EMITTED or (name, ANY_SERVICE) in EMITTED


def test_the_code_emits_the_metrics_the_readme_promises() -> None:
    names = {name for name, _ in EMITTED}
    assert {"MissedCallsAccepted", "AttachStarted", "SmsPermanent", "SmsThrottled", "FeeRecorded"} <= names
    assert {"ReceiptsUnknown", "FeeStatusDelivered", "KeywordSTOP", "KeywordNOTIFYME", "MoRejected"} <= names
    assert ("MissedCallsAccepted", "mcn-ingest") in EMITTED


def test_the_check_refuses_a_metric_the_code_does_not_emit() -> None:
    assert not is_emitted("MissedCallsAccepted", "mcn-attach")  # right name, wrong function
    assert not is_emitted("SmsThrottle", "mcn-notify-send")  # a typo
    assert not is_emitted("KeywordSTOPP", "mcn-receipts")


# ---------------------------------------------------------------------- the dashboard
def dashboard() -> dict[str, Any]:
    (dashboard_id,) = RESOLVED.resources_of_type("AWS::CloudWatch::Dashboard")
    body = RESOLVED.resolve(RESOURCES[dashboard_id]["Properties"]["DashboardBody"])
    return json.loads(body)


def dashboard_metrics() -> Iterator[tuple[str, str, dict[str, str]]]:
    for widget in dashboard()["widgets"]:
        for metric in widget["properties"].get("metrics", []):
            fields = [f for f in metric if not isinstance(f, dict)]
            assert "." not in fields, "write metrics out in full (no '.' shorthand)"
            namespace, name, *dimensions = fields
            yield namespace, name, dict(zip(dimensions[::2], dimensions[1::2], strict=True))


def test_dashboard_shows_only_metrics_the_code_emits() -> None:
    custom = [(name, dims) for namespace, name, dims in dashboard_metrics() if namespace == NAMESPACE]
    assert len(custom) > 40
    missing = [(name, dims.get("service")) for name, dims in custom if not is_emitted(name, dims.get("service"))]
    assert not missing, f"the dashboard shows metrics no code emits (name, service): {missing}"


def test_dashboard_tells_the_story() -> None:
    names = {name for _, name, _ in dashboard_metrics()}
    story = {
        "MissedCallsAccepted", "MissedCallsRejected", "MissedCallsSuppressed",  # calls in
        "AttachStarted", "AttachNoPending",  # attach outcomes
        "ExecutionsStarted", "SmsAccepted", "SmsPermanent", "NoticeDeferred",  # notices started/sent/failed/deferred
        "SmsThrottled", "FeeRecorded", "FeeStatusDelivered", "FeeStatusFailed", "FeeStatusExpired",
        "ReceiptsUnknown", "ReceiptsRefused", "KeywordSTOP", "ExecutionsFailed", "ExecutionsTimedOut",
        "NoticeCapped", "TenantUnresolved",  # tenants: a capped notice waits, a call stored without its tenant
        "Errors", "Duration", "ConcurrentExecutions", "Throttles", "ReadThrottleEvents", "WriteThrottleEvents",
    }  # fmt: skip
    assert story <= names, story - names


def test_dashboard_covers_every_function_table_and_alarm() -> None:
    function_names = {RESOLVED.physical_name(f) for f in FUNCTIONS}
    for metric in ("Errors", "Duration", "ConcurrentExecutions", "Throttles"):
        lambdas = [(name, dims) for ns, name, dims in dashboard_metrics() if ns == "AWS/Lambda"]
        shown = {dims["FunctionName"] for name, dims in lambdas if name == metric}
        assert shown == function_names, metric
    tables = {RESOLVED.physical_name(t) for t in RESOLVED.resources_of_type("AWS::DynamoDB::Table")}
    throttled = {dims["TableName"] for ns, _, dims in dashboard_metrics() if ns == "AWS/DynamoDB"}
    assert throttled == tables
    machines = {RESOLVED.arn(m) for m in MACHINES}
    assert {dims["StateMachineArn"] for ns, _, dims in dashboard_metrics() if ns == "AWS/States"} == machines
    (alarm_widget,) = [w for w in dashboard()["widgets"] if w["type"] == "alarm"]
    assert set(alarm_widget["properties"]["alarms"]) == {RESOLVED.arn(a) for a in ALARMS}


# ---------------------------------------------------------------------- alarms
def _alarm_custom_metrics(props: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    stats = [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
    if "MetricName" in props:
        stats.append(props)
    for metric in stats:
        dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
        yield metric["Namespace"], metric["MetricName"], dims


def runbook_anchors() -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)
        if heading:
            anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return anchors


@pytest.mark.parametrize("logical_id", sorted(ALARMS))
def test_alarm_notifies_the_topic_and_links_its_runbook_entry(logical_id: str) -> None:
    props = ALARMS[logical_id]["Properties"]
    assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    links = re.findall(r"docs/operations/runbook\.md#([\w-]+)", props["AlarmDescription"])
    assert len(links) == 1, "one runbook link in the description"
    assert links[0] in runbook_anchors(), f"{logical_id}: no heading for #{links[0]} in {RUNBOOK}"
    assert len(props["AlarmDescription"]) <= 1024


@pytest.mark.parametrize("logical_id", sorted(ALARMS))
def test_alarm_threshold_is_a_parameter(logical_id: str) -> None:
    threshold = ALARMS[logical_id]["Properties"]["Threshold"]
    if logical_id in ("ParkedEventsAlarm", "OriginationDeadLettersAlarm"):
        assert threshold == 0  # one parked event is one event to replay; one dead letter, one call lost
    else:
        assert set(threshold) == {"Ref"} and threshold["Ref"] in TEMPLATE["Parameters"]


@pytest.mark.parametrize("logical_id", sorted(ALARMS))
def test_alarm_watches_metrics_that_exist(logical_id: str) -> None:
    props = RESOLVED.resolve(ALARMS[logical_id]["Properties"])
    for namespace, name, dims in _alarm_custom_metrics(props):
        if namespace == NAMESPACE:
            assert is_emitted(name, dims.get("service")), (name, dims)
        if namespace == "AWS/Lambda":
            assert dims["FunctionName"] in {RESOLVED.physical_name(f) for f in FUNCTIONS}
    expressions = [m for m in props.get("Metrics", []) if m.get("ReturnData")]
    assert len(expressions) <= 1


def test_the_issue_s_alarms_exist() -> None:
    watched = {
        (ns, name) for a in ALARMS.values() for ns, name, _ in _alarm_custom_metrics(RESOLVED.resolve(a["Properties"]))
    }
    assert {
        (NAMESPACE, "SmsPermanent"),
        (NAMESPACE, "SmsThrottled"),
        (NAMESPACE, "MissedCallsRejected"),
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
        ("AWS/Lambda", "Errors"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
    } <= watched
    errors = {
        RESOLVED.resolve(a["Properties"]["Dimensions"][0]["Value"])
        for a in ALARMS.values()
        if a["Properties"].get("MetricName") == "Errors"
    }
    assert errors == {RESOLVED.physical_name(f) for f in FUNCTIONS}, "every function's errors are alarmed"


def test_alarm_topic_key_lets_cloudwatch_publish() -> None:
    topic = RESOURCES["AlarmTopic"]["Properties"]
    assert topic["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}  # not alias/aws/sns: CloudWatch cannot use it
    statements = RESOURCES["AlarmTopicKey"]["Properties"]["KeyPolicy"]["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in statements)


# ---------------------------------------------------------------------- logs, data, deploys
@pytest.mark.parametrize("logical_id", sorted(FUNCTIONS))
def test_function_logs_to_its_own_group_with_retention(logical_id: str) -> None:
    group_ref = RESOLVED.function_property(logical_id, "LoggingConfig")["LogGroup"]
    groups = RESOLVED.resources_of_type("AWS::Logs::LogGroup")
    (group_id,) = [g for g in groups if RESOLVED.ref(g) == group_ref]
    props = groups[group_id]["Properties"]
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert props["KmsKeyId"] == {"Fn::If": ["HasLogKmsKey", {"Ref": "LogKmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    others = [f for f in FUNCTIONS if f != logical_id]
    assert all(RESOLVED.function_property(f, "LoggingConfig")["LogGroup"] != group_ref for f in others)


def test_every_log_group_expires() -> None:
    for group in RESOLVED.resources_of_type("AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for machine in MACHINES.values():
        assert machine["Properties"]["Logging"]["Destinations"]


def test_log_groups_are_encrypted_only_when_a_key_is_given() -> None:
    plain = ResolvedTemplate(TEMPLATE, "x")
    keyed = ResolvedTemplate(
        TEMPLATE, "x", parameter_overrides={"LogKmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/abc-123"}
    )
    for group_id in RESOLVED.resources_of_type("AWS::Logs::LogGroup"):
        props = RESOURCES[group_id]["Properties"]
        assert "KmsKeyId" not in plain.resolve(props)
        assert keyed.resolve(props)["KmsKeyId"].endswith("key/abc-123")


@pytest.mark.parametrize("logical_id", ["FeesTable", "SubscribersTable", "MessageIdsTable"])
def test_money_and_preferences_survive_deletes_and_mistakes(logical_id: str) -> None:
    table = RESOURCES[logical_id]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_asynchronous_failures_are_parked() -> None:
    dlq = TEMPLATE["Globals"]["Function"]["DeadLetterQueue"]
    assert dlq == {"Type": "SQS", "TargetArn": {"Fn::GetAtt": ["ParkedEventsQueue", "Arn"]}}
    assert RESOURCES["ParkedEventsQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_functions_deploy_gradually_and_roll_back_on_their_alarms() -> None:
    globals_fn = TEMPLATE["Globals"]["Function"]
    assert globals_fn["AutoPublishAlias"] == "live"
    assert globals_fn["DeploymentPreference"]["Type"] == {"Ref": "DeploymentStrategy"}
    assert TEMPLATE["Parameters"]["DeploymentStrategy"]["Default"].startswith(("Canary", "Linear"))
    for logical_id, function in FUNCTIONS.items():
        alarms = [a["Ref"] for a in function["Properties"]["DeploymentPreference"]["Alarms"]]
        assert f"{logical_id.removesuffix('Function')}ErrorsAlarm" in alarms
        assert set(alarms) <= set(ALARMS)


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_state_machines_invoke_the_aliases(logical_id: str) -> None:
    substitutions = MACHINES[logical_id]["Properties"]["DefinitionSubstitutions"]
    for value in substitutions.values():
        assert set(value) == {"Ref"} and value["Ref"].endswith("Function.Alias"), value
    resolved = RESOLVED.resolve(substitutions)
    assert all(arn.endswith(":live") for arn in resolved.values())


@pytest.mark.parametrize("logical_id", sorted(MACHINES))
def test_the_local_runtime_runs_the_function_behind_each_alias(logical_id: str) -> None:
    """moto's Step Functions engine invokes the alias ARN; the embedded Lambda must run that function's handler."""
    from mcn_devkit.lambda_runtime import LocalLambdaRuntime

    runtime = LocalLambdaRuntime(RESOLVED, {})
    for value in MACHINES[logical_id]["Properties"]["DefinitionSubstitutions"].values():
        function_id = value["Ref"].removesuffix(".Alias")
        assert runtime.lookup(RESOLVED.resolve(value)).logical_id == function_id


def test_tracing_is_a_parameter_and_off_by_default() -> None:
    assert TEMPLATE["Parameters"]["Tracing"]["Default"] == "PassThrough"
    off, on = RESOLVED, ResolvedTemplate(TEMPLATE, "x", parameter_overrides={"Tracing": "Active"})
    for logical_id in FUNCTIONS:
        assert off.function_property(logical_id, "Tracing") == "PassThrough"
        assert off.function_environment(logical_id)["POWERTOOLS_TRACE_DISABLED"] == "true"
        assert on.function_property(logical_id, "Tracing") == "Active"
        assert on.function_environment(logical_id)["POWERTOOLS_TRACE_DISABLED"] == "false"
    for machine in MACHINES.values():
        assert off.resolve(machine["Properties"]["Tracing"]) == {"Enabled": False}
        assert on.resolve(machine["Properties"]["Tracing"]) == {"Enabled": True}

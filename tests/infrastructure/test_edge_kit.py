"""deploy/: the edge kit an operator runs next to the STP and the SMSC.

Every Prometheus rule and every Grafana panel may only query metrics that mcn-gateway or
mcn-receiver export: the names are read from the code's prometheus_client definitions.
(`promtool check rules`, `promtool check config` and `promtool test rules` run in `make lint`.)
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mcn_devkit.template import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
EDGE_CODE = ("gateway", "receiver", "edge")
RUNBOOK = PROJECT_ROOT / "docs" / "operations" / "runbook.md"
#: series Prometheus itself adds to every scrape target
PROMETHEUS_OWN = {"up"}
_KIND_SAMPLES = {
    "Counter": ("_total",),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count"),
    "Summary": ("_sum", "_count", ""),
}


def _service_prefixes(trees: list[ast.Module]) -> set[str]:
    """The prefixes a shared metrics base is built with: `super().__init__("mcn_gateway", ...)`."""
    return {
        node.args[0].value
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "__init__"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and str(node.args[0].value).startswith("mcn_")
    }


def _names(node: ast.expr, prefixes: set[str]) -> set[str]:
    """A metric's name: a literal, or f"{prefix}_spool_depth" in the shared base (one per service prefix)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.JoinedStr) and isinstance(node.values[0], ast.FormattedValue):
        rest = "".join(v.value for v in node.values[1:] if isinstance(v, ast.Constant))
        assert len(node.values) == 2, f"unexpected metric name {ast.unparse(node)}"
        return {prefix + rest for prefix in prefixes}
    return set()


def exported_series() -> set[str]:
    """Every series name the edge services expose, from their Counter/Gauge/Histogram definitions."""
    trees = [
        ast.parse(path.read_text())
        for root in EDGE_CODE
        for path in (PROJECT_ROOT / root).rglob("*.py")
        if "testing" not in path.parts
    ]
    prefixes = _service_prefixes(trees)
    series: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            kind = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if kind not in _KIND_SAMPLES:
                continue
            for name in _names(node.args[0], prefixes):
                base = name.removesuffix("_total") if kind == "Counter" else name
                series |= {base + suffix for suffix in _KIND_SAMPLES[kind]}
    return series


EXPORTED = exported_series()


def metric_names(expression: str) -> set[str]:
    """The series a PromQL expression selects (our own are all prefixed mcn_)."""
    without_strings = re.sub(r'"[^"]*"', '""', expression)
    return set(re.findall(r"\b(mcn_[a-z0-9_]+|up)\b(?!\s*\()", without_strings))


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def runbook_anchors() -> set[str]:
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*$", line)
        if heading:
            anchors.add(re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-"))
    return anchors


def test_the_services_export_what_the_readme_documents() -> None:
    assert {
        "mcn_gateway_messages_total",
        "mcn_gateway_association_state",
        "mcn_gateway_spool_depth",
        "mcn_gateway_forward_latency_seconds_bucket",
        "mcn_receiver_binds",
        "mcn_receiver_spool_depth",
        "mcn_receiver_forward_failures_total",
    } <= EXPORTED


def test_the_check_refuses_a_name_nobody_exports() -> None:
    expression = 'rate(mcn_gateway_decode_errors_total{layer="isup"}[5m])'
    assert metric_names(expression) == {"mcn_gateway_decode_errors_total"}
    assert "mcn_gateway_decode_error_total" not in EXPORTED


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_rule_queries_exported_metrics(rule: dict[str, Any]) -> None:
    names = metric_names(rule["expr"])
    assert names, "a rule must query a metric"
    assert names <= EXPORTED | PROMETHEUS_OWN, names - EXPORTED


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_rule_links_its_runbook_entry(rule: dict[str, Any]) -> None:
    url = rule["annotations"]["runbook_url"]
    anchor = re.fullmatch(r"docs/operations/runbook\.md#([\w-]+)", url)
    assert anchor and anchor.group(1) in runbook_anchors(), url
    assert rule["labels"]["severity"] in {"critical", "warning"}


def test_the_issue_s_alerts_exist() -> None:
    queried = {name for rule in alert_rules() for name in metric_names(rule["expr"])}
    assert {
        "mcn_gateway_association_state",  # association down
        "mcn_gateway_spool_depth",  # spool growing
        "mcn_gateway_forward_failures_total",  # forward failures
        "mcn_gateway_decode_errors_total",  # decode error rate
    } <= queried


def grafana_dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "mcn-edge.json").read_text())


def test_grafana_panels_query_exported_metrics() -> None:
    targets = [t for panel in grafana_dashboard()["panels"] for t in panel.get("targets", [])]
    assert len(targets) > 20
    for target in targets:
        names = metric_names(target["expr"])
        assert names and names <= EXPORTED, target["expr"]


def test_grafana_dashboard_shows_the_edge_story() -> None:
    queried = {n for p in grafana_dashboard()["panels"] for t in p.get("targets", []) for n in metric_names(t["expr"])}
    assert {
        "mcn_gateway_association_state",
        "mcn_gateway_messages_total",
        "mcn_gateway_decode_errors_total",
        "mcn_gateway_firewall_rejects_total",
        "mcn_gateway_events_total",
        "mcn_gateway_spool_depth",
        "mcn_gateway_forward_latency_seconds_bucket",
        "mcn_gateway_forward_failures_total",
        "mcn_gateway_mwd_registrations_sent_total",
        "mcn_gateway_circuits",
        "mcn_gateway_flash_calls_total",
        "mcn_gateway_circuit_blocking_unacknowledged",
        "mcn_receiver_binds",
        "mcn_receiver_spool_depth",
    } <= queried


def test_grafana_provisioning_points_at_the_dashboard_and_prometheus() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/mcn.yml").read_text())["providers"][0]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    datasource = yaml.safe_load((DEPLOY / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    assert all(p["datasource"]["uid"] == uid for p in grafana_dashboard()["panels"] if p["type"] != "row")


def test_compose_runs_both_services_with_spools_and_health_checks() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"gateway", "receiver", "prometheus", "grafana"} <= set(services)
    for name in ("gateway", "receiver"):
        service = services[name]
        volumes = [v.split(":") for v in service["volumes"]]
        spool_volume = next(source for source, target, *_ in volumes if target == "/var/lib/mcn-gateway")
        assert spool_volume in compose["volumes"], f"{name}: the spool is on a named volume"
        assert service["healthcheck"]["test"][0] == "CMD" and "/healthz" in " ".join(service["healthcheck"]["test"])
    gateway_port = services["gateway"]["environment"]["MCN_GATEWAY__HTTP__PORT"]
    receiver_port = services["receiver"]["environment"]["MCN_RECEIVER_HTTP_PORT"]
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())["scrape_configs"]
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in scrape}
    assert targets == {"mcn-gateway": [f"gateway:{gateway_port}"], "mcn-receiver": [f"receiver:{receiver_port}"]}
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not source.endswith(".toml"):
                assert (DEPLOY / source).exists(), volume


@pytest.mark.parametrize("unit", sorted(p.name for p in (DEPLOY / "systemd").glob("*.service")))
def test_systemd_unit_is_valid(unit: str, tmp_path: Path) -> None:
    text = (DEPLOY / "systemd" / unit).read_text()
    assert "StateDirectory=" in text and "Restart=always" in text and "User=mcn" in text
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(DEPLOY / "systemd" / unit)], capture_output=True, text=True, timeout=60
    )
    # The binaries live under /opt/mcn on a real host; anything else (unknown keys, bad values) is an error.
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "is not executable" not in line and "/opt/mcn/bin" not in line
    ]
    assert not problems, problems

"""`mcn config get|set|validate`: the operator's run-time configuration (SSM parameter, JSON).

Templates per language, caps, tariff, promotions, quiet hours: validated with
`mcn_core.models.config.NotifyConfig` before anything is written, so a bad edit is refused
with readable reasons instead of producing a wrong SMS or a wrong fee.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from mcn_cli.target import TargetError, add_target_arguments, aws_errors, resolve_target

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INVALID = 2
PARAMETER_OUTPUT = "NotifyConfigParameterName"
_STANDARD_TIER_LIMIT = 4096  # bytes; larger values need the Advanced tier


class ConfigFileError(ValueError):
    """A configuration file that cannot be used; the message lists every problem found."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    config = subparsers.add_parser("config", help="operator configuration: templates, tariff, caps, promotions")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")

    get = config_commands.add_parser(
        "get", help="print the deployed configuration (JSON)", description="Print the configuration JSON."
    )
    get.add_argument("--output", metavar="FILE", help="write it to FILE instead of stdout (to edit, then `set`)")
    add_target_arguments(get)
    get.set_defaults(func=run_get)

    set_ = config_commands.add_parser(
        "set",
        help="validate FILE and, if valid, make it the deployed configuration",
        description="Validate FILE against the configuration schema; write it to the SSM parameter only if "
        "it is valid (an invalid file is refused with every problem listed, and nothing is changed). "
        "Functions pick the change up within their cache time.",
    )
    set_.add_argument("file", metavar="FILE", help="configuration JSON (e.g. from `mcn config get --output`)")
    add_target_arguments(set_)
    set_.set_defaults(func=run_set)

    validate = config_commands.add_parser(
        "validate",
        help="check FILE against the configuration schema (offline)",
        description="Check FILE against the configuration schema without contacting AWS. Exit 0 when valid, "
        f"{EXIT_INVALID} when not (problems listed on stderr).",
    )
    validate.add_argument("file", metavar="FILE", help="configuration JSON")
    validate.set_defaults(func=run_validate)


# ---------------------------------------------------------------- validation (no AWS)
def parse_config(text: str, source: str) -> Any:
    """The validated NotifyConfig from JSON text, or ConfigFileError with every problem."""
    from mcn_core.models.base import ValidationError
    from mcn_core.models.config import NotifyConfig, configuration_problems, validation_problems

    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(document, dict):
        raise ConfigFileError(f"{source}: the configuration must be a JSON object")
    try:
        return NotifyConfig.from_data(document)
    except ValidationError as exc:
        # Every problem, per tenant: which tenant, which field (a tenant's settings are the operator's
        # with its overrides); validation itself stops at the first.
        found = configuration_problems(document) or validation_problems(exc, document)
        problems = [str(problem) for problem in found]
        raise ConfigFileError(
            f"{source} is invalid ({len(problems)} problem(s)):\n  " + "\n  ".join(problems)
        ) from None


def _read_file(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigFileError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot read: {exc}") from None


# ---------------------------------------------------------------- commands
def run_validate(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        config = parse_config(_read_file(args.file), args.file)
    except ConfigFileError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_INVALID
    print(
        f"{args.file} is valid: languages {', '.join(sorted(config.templates))}, tariff {config.tariff.id} "
        f"({config.tariff.fee_minor_per_notice} {config.tariff.currency} minor units per notice, "
        f"charged on {config.tariff.charge_on}), {len(config.promotions)} promotion(s)",
        file=out,
    )
    for name, tenant in sorted(config.tenants.items()):
        own = config.for_tenant(name)
        cap = f"daily cap {own.daily_cap}" if own.daily_cap else "no daily cap"
        print(
            f"  tenant {name}{f' ({tenant.name})' if tenant.name else ''}: {len(tenant.ranges)} range(s), "
            f"sender {own.service_sender}, languages {', '.join(sorted(own.templates))} (default "
            f"{own.default_language}), tariff {own.tariff.id} ({own.tariff.fee_minor_per_notice} "
            f"{own.tariff.currency}), short code {own.keywords.short_code}, {cap}",
            file=out,
        )
    return EXIT_OK


def run_get(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        target = resolve_target(args)
        name = target.output(PARAMETER_OUTPUT)
        value = target.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
    except TargetError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    except aws_errors() as exc:
        print(f"error: cannot read the configuration parameter: {exc}", file=err)
        return EXIT_ERROR
    try:
        text = json.dumps(json.loads(value), indent=2, ensure_ascii=False) + "\n"
    except json.JSONDecodeError:
        text = value  # shown as stored, so it can be fixed
        print(f"warning: the deployed value of {name} is not valid JSON", file=err)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"configuration written to {args.output}", file=err)
    else:
        out.write(text)
    return EXIT_OK


def run_set(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        text = _read_file(args.file)
        config = parse_config(text, args.file)
    except ConfigFileError as exc:
        print(f"error: {exc}\nnothing was changed", file=err)
        return EXIT_INVALID
    try:
        target = resolve_target(args)
        name = target.output(PARAMETER_OUTPUT)
    except TargetError as exc:
        print(f"error: {exc}", file=err)
        return EXIT_ERROR
    # The operator's own file as written (their key order and formatting), compacted.
    value = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    request: dict[str, Any] = {"Name": name, "Value": value, "Type": "String", "Overwrite": True}
    if len(value.encode()) > _STANDARD_TIER_LIMIT:
        request["Tier"] = "Intelligent-Tiering"
    try:
        version = target.client("ssm").put_parameter(**request).get("Version")
    except aws_errors() as exc:
        print(f"error: cannot write {name}: {exc}", file=err)
        return EXIT_ERROR
    print(
        f"configuration updated: {name} version {version} (languages {', '.join(sorted(config.templates))}, "
        f"tariff {config.tariff.id})",
        file=out,
    )
    return EXIT_OK

"""Where an operator command runs: the embedded AWS of `mcn local up`, or a real deployment.

- Embedded (default): `mcn local up` writes `.local/stack.json` (endpoint, stack name, region, the
  physical name of every template resource and the stack's Outputs); commands read it.
- Real: `--stack NAME [--profile P] [--region R]` reads the CloudFormation stack's Outputs
  (FeesTableName, SubscribersTableName, NotifyConfigParameterName, ...) with boto3.

Either way the command gets a `Target` with the same Outputs, so it never cares which one it is.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout: `.local/` sits next to template.yaml
DEFAULT_STATE_FILE = PROJECT_ROOT / ".local" / "stack.json"
STATE_FILE_ENV = "MCN_LOCAL_STATE"
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class TargetError(RuntimeError):
    """No usable target: the message says what to do about it."""


@dataclass(frozen=True)
class Target:
    kind: str  # "local" | "stack"
    stack_name: str
    region: str
    outputs: dict[str, str]
    endpoint_url: str | None = None
    profile: str | None = None
    resources: dict[str, str] = field(default_factory=dict)

    def output(self, name: str) -> str:
        try:
            return self.outputs[name]
        except KeyError:
            known = ", ".join(sorted(self.outputs)) or "none"
            raise TargetError(
                f"stack {self.stack_name} has no output {name!r} (outputs: {known});"
                " is it deployed from this version of template.yaml?"
            ) from None

    def describe(self) -> str:
        where = self.endpoint_url if self.kind == "local" else f"profile {self.profile or 'default'}"
        return f"{self.kind} stack {self.stack_name} ({self.region}, {where})"

    def environment(self) -> dict[str, str]:
        """AWS_* variables that point SDK clients created afterwards (boto3, PynamoDB) at this target."""
        env = {"AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region}
        if self.kind == "local":
            assert self.endpoint_url
            env |= LOCAL_CREDENTIALS | {"AWS_ENDPOINT_URL": self.endpoint_url}
        elif self.profile:
            env["AWS_PROFILE"] = self.profile
        return env

    def activate(self) -> None:
        """Point this process at the target (commands are one-shot processes; PynamoDB reads the env).

        For --stack, an AWS_ENDPOINT_URL already in the environment is kept, as every AWS SDK does.
        """
        os.environ.update(self.environment())

    def client(self, service: str) -> Any:
        import boto3

        session = boto3.Session(profile_name=self.profile, region_name=self.region)
        if self.kind == "local":
            return session.client(
                service,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=LOCAL_CREDENTIALS["AWS_SESSION_TOKEN"],
            )
        return session.client(service)


# ---------------------------------------------------------------- the embedded AWS's state file
def state_file(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get(STATE_FILE_ENV) or DEFAULT_STATE_FILE)


def write_state(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n")
    temporary.replace(path)  # readers never see half a file


def _endpoint_answers(endpoint: str) -> bool:
    parsed = urlparse(endpoint)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=2):
            return True
    except OSError:
        return False


def local_target(path: Path) -> Target:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise TargetError(
            f"no embedded AWS running ({path} not found). Start it in another terminal with `mcn local up`, "
            "or name a deployment with --stack NAME [--profile P] [--region R]"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise TargetError(f"cannot read {path}: {exc}; restart `mcn local up`") from None
    try:
        target = Target(
            kind="local",
            stack_name=document["stack_name"],
            region=document["region"],
            endpoint_url=document["endpoint"],
            outputs=dict(document["outputs"]),
            resources=dict(document.get("resources", {})),
        )
    except (KeyError, TypeError) as exc:
        raise TargetError(
            f"{path} is not a `mcn local up` state file (missing {exc}); restart `mcn local up`"
        ) from None
    if not _endpoint_answers(target.endpoint_url or ""):
        raise TargetError(
            f"the embedded AWS in {path} ({target.endpoint_url}) is not answering: it was stopped. "
            "Start it again with `mcn local up`"
        )
    return target


# ---------------------------------------------------------------- a real deployment
def stack_target(stack_name: str, profile: str | None, region: str | None) -> Target:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, ProfileNotFound

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise TargetError(f"AWS profile {profile!r} not found (see ~/.aws/config)") from None
    resolved_region = session.region_name
    if not resolved_region:
        raise TargetError("no AWS region: pass --region or set one in the profile / AWS_REGION")
    try:
        response = session.client("cloudformation").describe_stacks(StackName=stack_name)
    except NoCredentialsError:
        raise TargetError("no AWS credentials: pass --profile or configure credentials") from None
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise TargetError(f"cannot read stack {stack_name!r} in {resolved_region}: {message}") from None
    except BotoCoreError as exc:
        raise TargetError(f"cannot reach CloudFormation in {resolved_region}: {exc}") from None
    stacks = response.get("Stacks") or []
    if not stacks:
        raise TargetError(f"stack {stack_name!r} not found in {resolved_region}")
    outputs = {item["OutputKey"]: item["OutputValue"] for item in stacks[0].get("Outputs", [])}
    return Target(kind="stack", stack_name=stack_name, region=resolved_region, outputs=outputs, profile=profile)


def aws_errors() -> tuple[type[BaseException], ...]:
    """What AWS calls raise when a target's resource is missing, unreachable or forbidden."""
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    return (BotoCoreError, ClientError, PynamoDBException)


# ---------------------------------------------------------------- command-line glue
def add_target_arguments(parser: argparse.ArgumentParser, *, region_flag: bool = True) -> None:
    """--stack/--profile/--aws-region/--local-state; `--region` too unless the command uses it for numbers."""
    group = parser.add_argument_group(
        "target", "default: the embedded AWS started by `mcn local up`; or a deployed stack with --stack"
    )
    group.add_argument("--stack", metavar="NAME", help="a deployed CloudFormation stack (reads its Outputs)")
    group.add_argument("--profile", help="AWS profile for --stack")
    region_flags = ["--aws-region", "--region"] if region_flag else ["--aws-region"]
    group.add_argument(*region_flags, dest="aws_region", metavar="REGION", help="AWS region for --stack")
    group.add_argument(
        "--local-state",
        metavar="FILE",
        help=f"state file of `mcn local up` (default ${STATE_FILE_ENV} or .local/stack.json)",
    )


def resolve_target(args: argparse.Namespace) -> Target:
    """The target the command's flags name, activated for this process's SDK clients."""
    if args.stack:
        target = stack_target(args.stack, args.profile, args.aws_region)
    elif args.profile or args.aws_region:
        raise TargetError("--profile and --aws-region select a deployment: add --stack NAME")
    else:
        target = local_target(state_file(args.local_state))
    target.activate()
    return target

"""The embedded AWS: moto's server on 127.0.0.1 with template.yaml deployed to it, and the
template's functions served by the local Lambda runtime. Used by tests, `mcn invoke` and the demo.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcn_devkit.aws_server import EmbeddedAwsServer
from mcn_devkit.lambda_runtime import LocalLambdaRuntime
from mcn_devkit.template import PROJECT_ROOT, TEMPLATE_PATH, ResolvedTemplate, load_template

_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "BillingMode",
    "ProvisionedThroughput",
    "StreamSpecification",
)

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class EmbeddedStack:
    """`with EmbeddedStack() as stack:` the template deployed on an embedded AWS.

    - `stack.aws_endpoint`: moto server URL; `stack.env`: AWS_* variables for any SDK client.
    - `stack.lambda_endpoint`: the Lambda Invoke API serving the template's real handlers
      (the same server: moto for every other API, the local runtime for the template's functions).
    - `stack.resource_name("MissedCallsTable")`, `stack.function_name("IngestFunction")`.
    - `stack.invoke("IngestFunction", payload)`: in-process invoke, as Lambda would.
    """

    def __init__(
        self,
        *,
        stack_name: str | None = None,
        parameters: dict[str, str] | None = None,
        template_path: Path = TEMPLATE_PATH,
        aws_port: int = 0,
        region: str = "eu-west-1",
    ) -> None:
        # moto keeps state per process: a unique stack name keeps parallel stacks apart.
        self.stack_name = stack_name or f"mcn-local-{uuid.uuid4().hex[:6]}"
        self.region = region
        self.resolved = ResolvedTemplate(
            load_template(template_path), self.stack_name, region=region, parameter_overrides=parameters or {}
        )
        self._aws_port = aws_port
        self._server: EmbeddedAwsServer | None = None
        self.runtime: LocalLambdaRuntime | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> EmbeddedStack:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        from moto.core.config import default_user_config

        # moto's Step Functions engine runs the ASL (instead of returning canned data).
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        self.runtime = None
        self._server = EmbeddedAwsServer(self._aws_port, self._lambda_invoke)
        self._server.start()
        self.aws_endpoint = self._server.endpoint
        # Task states call Lambda through the server's own endpoint (moto reads MOTO_PORT).
        os.environ["MOTO_PORT"] = str(self._server.port)
        self.resolved.sqs_endpoint = self.aws_endpoint
        self.runtime = LocalLambdaRuntime(self.resolved, self.env)
        deploy_template(self.resolved, self.client)
        # Lambda Invoke API on the same endpoint: requests for the template's functions go to the runtime.
        self.lambda_endpoint = self.aws_endpoint

    def _lambda_invoke(self, function: str, payload: Any, asynchronous: bool) -> tuple[int, Any, dict[str, str]]:
        if self.runtime is None:
            return 503, {"message": "stack starting"}, {}
        return self.runtime.http_invoke(function, payload, asynchronous)

    def stop(self) -> None:
        if self._server:
            # moto keeps its state per process: remove this stack's resources, so a later stack of
            # the same name in this process starts clean.
            undeploy_template(self.resolved, self.client)
            self._server.stop()
            self._server = None

    # ------------------------------------------------------------------ clients
    @property
    def env(self) -> dict[str, str]:
        return {
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.aws_endpoint,
        }

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            region_name=self.region,
            endpoint_url=self.aws_endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=CREDENTIALS["AWS_SESSION_TOKEN"],
        )

    def lambda_client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "lambda",
            region_name=self.region,
            endpoint_url=self.lambda_endpoint,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 1}, read_timeout=120),
        )

    def resource_name(self, logical_id: str) -> str:
        return self.resolved.ref(logical_id)

    def function_name(self, logical_id: str) -> str:
        return self.resolved.physical_name(logical_id)

    def invoke(self, logical_id: str, payload: Any) -> Any:
        assert self.runtime is not None, "start the stack first"
        return self.runtime.invoke(self.function_name(logical_id), payload)

    # ------------------------------------------------------------------ deploy
    def deploy(self) -> None:
        deploy_template(self.resolved, self.client)


def deploy_template(resolved: ResolvedTemplate, client: Callable[[str], Any]) -> None:
    """Create every resource of the template that the embedded AWS holds, through `client(service)`."""
    for logical_id, resource in resolved.resources_of_type("AWS::DynamoDB::Table").items():
        props = resolved.resolve(resource.get("Properties", {}))
        _create_table(client("dynamodb"), resolved.physical_name(logical_id), props)
    for logical_id, resource in resolved.resources_of_type("AWS::SSM::Parameter").items():
        props = resolved.resolve(resource["Properties"])
        client("ssm").put_parameter(
            Name=resolved.physical_name(logical_id), Value=props["Value"], Type=props.get("Type", "String")
        )
    for logical_id, resource in resolved.resources_of_type("AWS::SecretsManager::Secret").items():
        props = resolved.resolve(resource.get("Properties", {}))
        client("secretsmanager").create_secret(
            Name=resolved.physical_name(logical_id), SecretString=_secret_string(props)
        )
    # A queue named in another's RedrivePolicy (its dead letters) is created first.
    queues = resolved.resources_of_type("AWS::SQS::Queue")
    for logical_id in sorted(queues, key=lambda name: "RedrivePolicy" in queues[name].get("Properties", {})):
        _create_queue(
            client("sqs"), resolved.physical_name(logical_id), resolved.resolve(queues[logical_id]["Properties"])
        )
    # A machine named in another's DefinitionSubstitutions is created first.
    machines = resolved.resources_of_type("AWS::Serverless::StateMachine")
    for logical_id in sorted(machines, key=lambda name: len(_definition_refs(resolved, machines[name]))):
        props = machines[logical_id]["Properties"]
        definition = (PROJECT_ROOT / str(props["DefinitionUri"])).read_text()
        for key, value in resolved.resolve(props.get("DefinitionSubstitutions", {})).items():
            definition = definition.replace("${" + key + "}", str(value))
        client("stepfunctions").create_state_machine(
            name=resolved.physical_name(logical_id),
            definition=definition,
            roleArn=f"arn:aws:iam::{resolved.account_id}:role/{resolved.physical_name(logical_id)}-role",
            type=str(resolved.resolve(props.get("Type", "STANDARD"))),
        )


def undeploy_template(resolved: ResolvedTemplate, client: Callable[[str], Any]) -> None:
    """Delete what `deploy_template` created (best effort: the server is going away anyway)."""
    removals: list[tuple[str, str, dict[str, str]]] = []
    for logical_id in resolved.resources_of_type("AWS::DynamoDB::Table"):
        removals.append(("dynamodb", "delete_table", {"TableName": resolved.physical_name(logical_id)}))
    for logical_id in resolved.resources_of_type("AWS::SSM::Parameter"):
        removals.append(("ssm", "delete_parameter", {"Name": resolved.physical_name(logical_id)}))
    for logical_id in resolved.resources_of_type("AWS::SecretsManager::Secret"):
        removals.append(
            (
                "secretsmanager",
                "delete_secret",
                {"SecretId": resolved.physical_name(logical_id), "ForceDeleteWithoutRecovery": True},
            )
        )
    for logical_id in resolved.resources_of_type("AWS::SQS::Queue"):
        removals.append(("sqs", "delete_queue", {"QueueUrl": resolved.queue_url(logical_id)}))
    for logical_id in resolved.resources_of_type("AWS::Serverless::StateMachine"):
        removals.append(("stepfunctions", "delete_state_machine", {"stateMachineArn": resolved.arn(logical_id)}))
    for service, operation, arguments in removals:
        with contextlib.suppress(Exception):
            getattr(client(service), operation)(**arguments)


def _definition_refs(resolved: ResolvedTemplate, machine: dict[str, Any]) -> list[str]:
    substitutions = json.dumps(machine["Properties"].get("DefinitionSubstitutions", {}))
    return [name for name in resolved.resources_of_type("AWS::Serverless::StateMachine") if name in substitutions]


def _secret_string(props: dict[str, Any]) -> str:
    """What CloudFormation would generate: the template's JSON plus a random password."""
    if "SecretString" in props:
        return str(props["SecretString"])
    generate = props.get("GenerateSecretString", {})
    length = int(generate.get("PasswordLength", 16))
    password = secrets.token_hex(length)[:length]
    if "GenerateStringKey" not in generate:
        return password
    document = json.loads(generate.get("SecretStringTemplate", "{}"))
    document[generate["GenerateStringKey"]] = password
    return json.dumps(document)


#: CloudFormation's AWS::SQS::Queue properties that are SQS queue attributes of the same name
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
    "FifoQueue",
    "ContentBasedDeduplication",
)


def _create_queue(sqs: Any, name: str, props: dict[str, Any]) -> None:
    attributes = {key: _attribute(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
    sqs.create_queue(QueueName=name, Attributes=attributes)


def _attribute(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _create_table(dynamodb: Any, name: str, props: dict[str, Any]) -> None:
    request = {key: props[key] for key in _TABLE_KEYS if key in props}
    if request.get("BillingMode") == "PAY_PER_REQUEST":
        for index in request.get("GlobalSecondaryIndexes", []):
            index.pop("ProvisionedThroughput", None)
    sse = props.get("SSESpecification")
    if sse:
        request["SSESpecification"] = {"Enabled": bool(sse.get("SSEEnabled"))}
    dynamodb.create_table(TableName=name, **request)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
    pitr = props.get("PointInTimeRecoverySpecification")
    if pitr and pitr.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )


def apply_env(env: dict[str, str]) -> None:
    """Point this process's SDK clients at the embedded AWS (CLI commands run against it)."""
    os.environ.update(env)

"""Read template.yaml, the single source of truth, and resolve it for a local deployment.

The local stack, the tests and `sam deploy` all read the same file: nothing here lists
tables or environment variables by hand. Only what the local stack needs of
CloudFormation is resolved (Ref, GetAtt, Sub, If/Equals/Not/And/Or, Join, Select).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = PROJECT_ROOT / "template.yaml"
NO_VALUE = object()


class TemplateError(RuntimeError):
    """The template cannot be read or resolved."""


def _plain(node: Any) -> Any:
    """cfn-lint's decoder returns node subclasses that carry line marks; keep plain data only."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    from cfnlint.decode import decode  # heavy import, only for local tooling

    template, matches = decode(str(path))
    if matches or template is None:
        raise TemplateError(f"cannot parse {path}: {'; '.join(str(m) for m in matches)}")
    return _plain(template)


@dataclass
class ResolvedTemplate:
    """A template with its parameters bound and physical names chosen for one local stack."""

    template: dict[str, Any]
    stack_name: str
    region: str = "eu-west-1"
    account_id: str = "123456789012"
    parameter_overrides: dict[str, str] = field(default_factory=dict)
    #: where SQS queue URLs point (the embedded AWS sets its own endpoint once it is listening)
    sqs_endpoint: str | None = None

    def __post_init__(self) -> None:
        self.parameters = self._bind_parameters()
        self.conditions = {name: bool(self.resolve(expr)) for name, expr in self.template.get("Conditions", {}).items()}

    # ------------------------------------------------------------------ naming
    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.template.get("Resources", {})

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res.get("Type") == resource_type}

    def physical_name(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"no resource {logical_id} in the template")
        props = resource.get("Properties", {})
        explicit = props.get("TableName") or props.get("FunctionName") or props.get("Name") or props.get("QueueName")
        if explicit and resource["Type"] != "AWS::Serverless::LayerVersion":
            return str(self.resolve(explicit))
        return f"{self.stack_name}-{logical_id}"

    def arn(self, logical_id: str) -> str:
        resource_type = self.resources[logical_id]["Type"]
        name = self.physical_name(logical_id)
        prefix = f"arn:aws:{{}}:{self.region}:{self.account_id}"
        match resource_type:
            case "AWS::DynamoDB::Table":
                return f"{prefix.format('dynamodb')}:table/{name}"
            case "AWS::Serverless::Function" | "AWS::Lambda::Function":
                return f"{prefix.format('lambda')}:function:{name}"
            case "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine":
                return f"{prefix.format('states')}:stateMachine:{name}"
            case "AWS::Serverless::LayerVersion":
                return f"{prefix.format('lambda')}:layer:{name}:1"
            case "AWS::SSM::Parameter":
                return f"{prefix.format('ssm')}:parameter/{name.lstrip('/')}"
            case "AWS::SecretsManager::Secret":
                return f"{prefix.format('secretsmanager')}:secret:{name}"
            case "AWS::SQS::Queue":
                return f"{prefix.format('sqs')}:{name}"
            case "AWS::IAM::ManagedPolicy":
                return f"arn:aws:iam::{self.account_id}:policy/{name}"
        return f"{prefix.format('local')}:{logical_id}/{name}"

    def ref(self, logical_id: str) -> str:
        """What CloudFormation's Ref returns for a resource of this type.

        A secret's Ref is its ARN in AWS, which ends in a random suffix the embedded AWS picks;
        locally it is the secret's name, which every Secrets Manager call accepts as SecretId.
        """
        resource_type = self.resources[logical_id]["Type"]
        if resource_type == "AWS::SQS::Queue":
            return self.queue_url(logical_id)
        if resource_type in {
            "AWS::Serverless::StateMachine",
            "AWS::StepFunctions::StateMachine",
            "AWS::Serverless::LayerVersion",
        }:
            return self.arn(logical_id)
        return self.physical_name(logical_id)

    def queue_url(self, logical_id: str) -> str:
        """A queue's Ref: its URL (moto's form, `<endpoint>/<account>/<name>`, on the embedded AWS)."""
        base = self.sqs_endpoint or f"https://sqs.{self.region}.amazonaws.com"
        return f"{base.rstrip('/')}/{self.account_id}/{self.physical_name(logical_id)}"

    # ------------------------------------------------------------------ resolving
    def _bind_parameters(self) -> dict[str, str]:
        bound: dict[str, str] = {}
        declared = self.template.get("Parameters", {})
        unknown = set(self.parameter_overrides) - set(declared)
        if unknown:
            raise TemplateError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
        for name, spec in declared.items():
            if name in self.parameter_overrides:
                value = str(self.parameter_overrides[name])
            elif "Default" in spec:
                value = str(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default and no value was given")
            allowed = spec.get("AllowedValues")
            if allowed and value not in [str(a) for a in allowed]:
                raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
            pattern = spec.get("AllowedPattern")
            if pattern and not re.fullmatch(pattern, value):
                raise TemplateError(f"parameter {name}={value!r} does not match {pattern}")
            bound[name] = value
        return bound

    def _pseudo(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }[name]

    def _ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self._pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.ref(name)
        logical_id, _, suffix = name.partition(".")
        if suffix == "Alias" and logical_id in self.resources:
            return self.alias_arn(logical_id)
        raise TemplateError(f"Ref to unknown name {name}")

    def alias_arn(self, logical_id: str) -> str:
        """SAM's `!Ref Function.Alias`: the ARN of the alias AutoPublishAlias names (e.g. `...:function:name:live`)."""
        alias = self.function_property(logical_id, "AutoPublishAlias")
        if not alias:
            raise TemplateError(f"{logical_id}.Alias: the function has no AutoPublishAlias")
        return f"{self.arn(logical_id)}:{alias}"

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if attribute == "Arn":
            return self.arn(logical_id)
        if attribute in ("Name", "QueueName"):
            return self.physical_name(logical_id)
        if attribute == "QueueUrl":
            return self.queue_url(logical_id)
        raise TemplateError(f"GetAtt {logical_id}.{attribute} is not supported locally")

    def _sub(self, text: str, variables: dict[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in variables:
                return str(variables[token])
            if "." in token:
                logical_id, attribute = token.split(".", 1)
                return self._get_att(logical_id, attribute)
            return str(self._ref(token))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            match key:
                case "Ref":
                    return self._ref(value)
                case "Fn::GetAtt":
                    logical_id, attribute = value if isinstance(value, list) else value.split(".", 1)
                    return self._get_att(logical_id, attribute)
                case "Fn::Sub":
                    if isinstance(value, list):
                        return self._sub(value[0], {k: self.resolve(v) for k, v in value[1].items()})
                    return self._sub(value, {})
                case "Fn::If":
                    condition, when_true, when_false = value
                    return self.resolve(when_true if self.conditions[condition] else when_false)
                case "Fn::Equals":
                    left, right = (self.resolve(v) for v in value)
                    return str(left) == str(right)
                case "Fn::Not":
                    return not self.resolve(value[0])
                case "Fn::And":
                    return all(self.resolve(v) for v in value)
                case "Fn::Or":
                    return any(self.resolve(v) for v in value)
                case "Condition":
                    return self.conditions[value]
                case "Fn::Join":
                    separator, items = value
                    return separator.join(str(v) for v in self.resolve(items))
                case "Fn::Select":
                    index, items = value
                    return self.resolve(items)[int(self.resolve(index))]
                case "Fn::ToJsonString":
                    return json.dumps(self.resolve(value))
        resolved = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    # ------------------------------------------------------------------ functions
    def function_environment(self, logical_id: str) -> dict[str, str]:
        """Globals + the function's own variables, resolved: what Lambda would give the handler."""
        globals_env = self.template.get("Globals", {}).get("Function", {}).get("Environment", {})
        own_env = self.resources[logical_id].get("Properties", {}).get("Environment", {})
        variables = {**globals_env.get("Variables", {}), **own_env.get("Variables", {})}
        return {name: _env_string(self.resolve(value)) for name, value in variables.items()}

    def function_property(self, logical_id: str, name: str, default: Any = None) -> Any:
        own = self.resources[logical_id].get("Properties", {})
        globals_fn = self.template.get("Globals", {}).get("Function", {})
        value = self.resolve(own[name] if name in own else globals_fn.get(name, default))
        return default if value is NO_VALUE else value


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)

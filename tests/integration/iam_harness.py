"""The synthesized stack's data resources and the function's role, made in the enforced AWS.

A small deployer for the part of the template IAM is about: each bucket, table and queue is
created as the template declares it (versioning, keys and indexes, redrive), named as
CloudFormation names resources it creates (``{stack}-{LogicalId}-{suffix}``), and every
statement of the function role's policies is resolved to those names (Ref, Fn::GetAtt,
Fn::Join and the pseudo parameters). The README's operator policy is read from the README
and its placeholders filled the same way.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_aws.enforced_aws import ACCOUNT_ID, EnforcedAWS

README = Path(__file__).resolve().parents[2] / "README.md"
#: The heading above the operator policy's JSON block in the README.
OPERATOR_POLICY_HEADING = "### The operator's policy"


@dataclass
class Deployed:
    """The template's resources in the enforced AWS, by logical ID."""

    template: dict[str, Any]
    stack_name: str
    region: str
    #: Logical ID -> what Ref answers (bucket or table name, queue URL, log group name).
    refs: dict[str, str] = field(default_factory=dict)
    #: Logical ID -> its ARN (Fn::GetAtt X.Arn).
    arns: dict[str, str] = field(default_factory=dict)

    def resolve(self, value: Any) -> Any:
        """A template value with every intrinsic function replaced by its value here."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self._ref(argument)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument
                if attribute == "Arn":
                    return self.arns[logical_id]
                raise KeyError(f"Fn::GetAtt {logical_id}.{attribute} is not resolved here")
            if function == "Fn::Join":
                separator, parts = argument
                return str(separator).join(str(self.resolve(part)) for part in parts)
            if function.startswith("Fn::"):
                raise KeyError(f"{function} is not resolved here")
        return {key: self.resolve(item) for key, item in value.items()}

    def _ref(self, name: str) -> str:
        pseudo = {
            "AWS::Partition": "aws",
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        return self.refs[name]

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template["Resources"].items()
            if resource["Type"] == resource_type
        }

    def one(self, resource_type: str, prefix: str) -> str:
        """The logical ID of the one resource of that type whose ID starts with ``prefix``."""
        (found,) = [i for i in self.resources(resource_type) if i.startswith(prefix)]
        return found

    # -- what the tests drive ------------------------------------------------------------------
    def function_policies(self) -> dict[str, dict[str, Any]]:
        """Every policy attached to the function's role, resolved: name -> document."""
        role = self.one("AWS::IAM::Role", "ArchiverRole")
        return {
            logical_id: self.resolve(resource["Properties"]["PolicyDocument"])
            for logical_id, resource in self.resources("AWS::IAM::Policy").items()
            if {"Ref": role} in resource["Properties"]["Roles"]
        }

    def function_environment(self) -> dict[str, str]:
        function = self.one("AWS::Lambda::Function", "ArchiverFunction")
        variables = self.template["Resources"][function]["Properties"]["Environment"]["Variables"]
        return {name: str(self.resolve(value)) for name, value in variables.items()}

    def sweep_input(self) -> dict[str, Any]:
        rule = self.template["Resources"][self.one("AWS::Events::Rule", "SweepRule")]
        (target,) = rule["Properties"]["Targets"]
        loaded: dict[str, Any] = json.loads(target["Input"])
        return loaded

    def outputs(self) -> dict[str, str]:
        return {
            name: str(self.resolve(output["Value"]))
            for name, output in self.template.get("Outputs", {}).items()
        }


def deploy(aws: EnforcedAWS, template: dict[str, Any], stack_name: str) -> Deployed:
    """Create the template's buckets, tables and queues, and a stack holding its outputs."""
    deployed = Deployed(template, stack_name, aws.region)
    suffix = uuid.uuid4().hex[:12].upper()
    s3, db, sqs = aws.client("s3"), aws.client("dynamodb"), aws.client("sqs")
    region, account = aws.region, ACCOUNT_ID
    for logical_id, resource in deployed.resources("AWS::S3::Bucket").items():
        name = f"{stack_name}-{logical_id}-{suffix}".lower()[:63]
        s3.create_bucket(Bucket=name)
        versioning = resource["Properties"].get("VersioningConfiguration")
        if versioning:
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=versioning)
        deployed.refs[logical_id] = name
        deployed.arns[logical_id] = f"arn:aws:s3:::{name}"
    for logical_id, resource in deployed.resources("AWS::DynamoDB::Table").items():
        name = f"{stack_name}-{logical_id}-{suffix}"
        properties = resource["Properties"]
        db.create_table(
            TableName=name,
            BillingMode=properties["BillingMode"],
            KeySchema=properties["KeySchema"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            GlobalSecondaryIndexes=[
                {k: index[k] for k in ("IndexName", "KeySchema", "Projection")}
                for index in properties.get("GlobalSecondaryIndexes", [])
            ],
        )
        deployed.refs[logical_id] = name
        deployed.arns[logical_id] = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    queues = deployed.resources("AWS::SQS::Queue")
    for logical_id in queues:
        name = f"{stack_name}-{logical_id}-{suffix}"
        deployed.refs[logical_id] = sqs.create_queue(QueueName=name)["QueueUrl"]
        deployed.arns[logical_id] = f"arn:aws:sqs:{region}:{account}:{name}"
    for logical_id, resource in queues.items():
        redrive = resource["Properties"].get("RedrivePolicy")
        if redrive:
            sqs.set_queue_attributes(
                QueueUrl=deployed.refs[logical_id],
                Attributes={"RedrivePolicy": json.dumps(deployed.resolve(redrive))},
            )
    for logical_id in deployed.resources("AWS::Logs::LogGroup"):
        name = f"{stack_name}-{logical_id}-{suffix}"
        deployed.refs[logical_id] = name
        deployed.arns[logical_id] = f"arn:aws:logs:{region}:{account}:log-group:{name}:*"
    for logical_id in deployed.resources("AWS::SNS::Topic"):
        deployed.refs[logical_id] = f"arn:aws:sns:{region}:{account}:{stack_name}-{logical_id}"
    for logical_id in deployed.resources("AWS::Lambda::Function"):
        deployed.refs[logical_id] = f"{stack_name}-{logical_id}-{suffix}"
    for logical_id in deployed.resources("AWS::CloudWatch::Dashboard"):
        deployed.refs[logical_id] = f"{stack_name}-{region}"
    # The stack itself, with the outputs the CLI reads when no table or bucket is given.
    stack = {
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
        "Outputs": {name: {"Value": value} for name, value in deployed.outputs().items()},
    }
    aws.client("cloudformation").create_stack(StackName=stack_name, TemplateBody=json.dumps(stack))
    return deployed


def readme_operator_policy(placeholders: dict[str, str]) -> dict[str, Any]:
    """The README's operator policy, with each ``<Placeholder>`` filled in."""
    text = README.read_text(encoding="utf-8")
    section = text.split(OPERATOR_POLICY_HEADING, 1)[1]
    block = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert block, f"no JSON block under {OPERATOR_POLICY_HEADING!r} in the README"
    policy = block.group(1)
    for name, value in placeholders.items():
        policy = policy.replace(f"<{name}>", value)
    left = re.findall(r"<[A-Za-z]+>", policy)
    assert not left, f"placeholders the harness does not know: {left}"
    loaded: dict[str, Any] = json.loads(policy)
    return loaded

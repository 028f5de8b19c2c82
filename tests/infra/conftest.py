"""Synthesizes the stack once per configuration for the whole session (jsii is slow).

Three configurations cover the issues between them:

* ``default``: cdk.json exactly as committed.
* ``adopted``: an existing bucket and table, a custom prefix, a pinned layer ARN.
* ``hardened``: a customer-managed key, alarm e-mail, Glacier transition, source buckets
  and their KMS key, an hourly sweep, Object Lock and every retention setting, reserved
  concurrency with a queue maximum inside it, Medical and HealthScribe prefixes of their
  own, and every number given as a string, the way ``-c key=value`` delivers it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Template
from cdk_nag import AwsSolutionsChecks

from infra.config import ArchiverConfig, cdk_json_context
from infra.stack import ArchiverStack

ROOT = Path(__file__).resolve().parents[2]

KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SOURCE_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/9999abcd-12ab-34cd-56ef-1234567890ab"
LAYER_ARN = (
    "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:27"
)

ADOPTED: dict[str, Any] = {
    "archiveBucketName": "team-archive",
    "jobsTableName": "TranscribeJobs",
    "archivePrefix": "archive/v1/",
    "powertoolsLayerArn": LAYER_ARN,
}
HARDENED: dict[str, Any] = {
    "stackName": "ArchiverProd",
    "kmsKeyArn": KMS_KEY_ARN,
    "alarmEmail": "transcribe-ops@example.com",
    "transitionToGlacierAfterDays": "90",
    "sourceBuckets": "team-transcribe-out, other-team-out",
    "reservedConcurrency": "20",
    "maxConcurrency": "8",
    "memorySize": "1024",
    "logRetentionDays": "30",
    "archiveUnredacted": "false",
    "sourceKmsKeyArns": SOURCE_KEY_ARN,
    "sweepSchedule": "rate(1 hour)",
    "objectLockMode": "governance",
    "objectLockDays": "30",
    "unredactedRetentionDays": "14",
    "noncurrentVersionRetentionDays": "90",
    "historyRetentionDays": "400",
    "medicalPrefix": "clinic/dictations/",
    "medicalScribePrefix": "clinic/notes/",
}


@dataclass(frozen=True)
class Synth:
    config: ArchiverConfig
    stack: ArchiverStack
    template: Template

    @property
    def json(self) -> dict[str, Any]:
        return dict(self.template.to_json())

    @property
    def annotations(self) -> Annotations:
        return Annotations.from_stack(self.stack)

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            key: dict(value) for key, value in self.template.find_resources(resource_type).items()
        }

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(resource_type)
        assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
        return next(iter(found.items()))

    def logical_id(self, resource_type: str, prefix: str) -> str:
        """Logical ID of the one resource of that type whose ID starts with ``prefix``.

        CDK derives logical IDs from construct paths, e.g. ``Archiver/Role`` ->
        ``ArchiverRoleFF43D897``.
        """
        matches = [i for i in self.resources(resource_type) if i.startswith(prefix)]
        assert len(matches) == 1, f"{resource_type} starting {prefix!r}: {matches}"
        return matches[0]

    def named(self, resource_type: str, prefix: str) -> tuple[str, dict[str, Any]]:
        """The one resource of that type whose logical ID starts with ``prefix``."""
        logical_id = self.logical_id(resource_type, prefix)
        return logical_id, self.resources(resource_type)[logical_id]


def synthesize(overrides: Mapping[str, Any], outdir: Path) -> Synth:
    """The stack as `cdk synth` builds it: cdk.json context (with feature flags) + overrides."""
    context = {**cdk_json_context(ROOT / "cdk.json"), **overrides}
    app = cdk.App(context=context, outdir=str(outdir))
    config = ArchiverConfig.from_context(app.node)
    stack = ArchiverStack(app, config.stack_name, config=config)
    cdk.Aspects.of(stack).add(AwsSolutionsChecks(reports=False))
    return Synth(config=config, stack=stack, template=Template.from_stack(stack))


@pytest.fixture(scope="session")
def default(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize({}, tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def adopted(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(ADOPTED, tmp_path_factory.mktemp("adopted"))


@pytest.fixture(scope="session")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(HARDENED, tmp_path_factory.mktemp("hardened"))


@pytest.fixture(params=["default", "adopted", "hardened"])
def each(request: pytest.FixtureRequest) -> Synth:
    """Runs a test once per configuration."""
    synth: Synth = request.getfixturevalue(request.param)
    return synth


def render(value: Any) -> str:
    """A CloudFormation value as one readable string: Ref -> <Id>, GetAtt -> <Id.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict) and len(value) == 1:
        ((function, argument),) = value.items()
        if function == "Ref":
            return f"<{argument}>"
        if function == "Fn::GetAtt":
            return f"<{'.'.join(argument)}>"
        if function == "Fn::Join":
            separator, parts = argument
            return str(separator).join(render(part) for part in parts)
    raise AssertionError(f"cannot render {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def policy_statements(synth: Synth) -> list[tuple[str, dict[str, Any]]]:
    """Every statement of every policy document in the template, with its resource's ID."""
    statements = []
    for logical_id, resource in synth.json["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [
            properties[key] for key in ("PolicyDocument", "KeyPolicy") if key in properties
        ]
        documents += [policy["PolicyDocument"] for policy in properties.get("Policies", [])]
        for document in documents:
            statements += [(logical_id, statement) for statement in document["Statement"]]
    return statements


def function_statements(synth: Synth) -> list[dict[str, Any]]:
    """Allow statements of the archiver role's policies."""
    role_id = synth.logical_id("AWS::IAM::Role", "ArchiverRole")
    statements = []
    for resource in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role_id} in resource["Properties"]["Roles"]:
            statements += resource["Properties"]["PolicyDocument"]["Statement"]
    assert statements, "the archiver role has no policy"
    return statements

"""The archiver Lambda: its code, role, log group, layer and async-invoke settings."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from archiver import contract
from aws_cdk import Aws, CfnResource, Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_ssm as ssm
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.config import ArchiverConfig
from infra.constructs.archive_storage import ArchiveStorage
from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.job_kinds import KIND_FACTS, KindFacts
from infra.scan_findings import suppress_findings

LAMBDAS_DIR: Final = Path(__file__).resolve().parents[2] / "lambdas"
HANDLER: Final = "archiver.handler.handler"
#: The newest Python Lambda runtime aws-cdk-lib knows (cdk-nag AwsSolutions-L1 asks for it).
RUNTIME: Final = lambda_.Runtime.PYTHON_3_14
#: Archiving is network-bound; Graviton is cheaper per GB-second for the same work.
ARCHITECTURE: Final = lambda_.Architecture.ARM_64
#: Long outputs are streamed from a link that is refreshed when it expires; a single
#: invocation may need most of Lambda's maximum.
TIMEOUT: Final = Duration.minutes(15)
#: Lambda's own retries of a failed asynchronous invocation: only the sweep's schedule
#: invokes the function that way now, and a sweep never raises (a crash or timeout is
#: retried; the next scheduled sweep would make up for it anyway).
ASYNC_RETRY_ATTEMPTS: Final = 2
#: Throttled asynchronous invocations wait in Lambda's own queue for up to this long.
ASYNC_MAX_EVENT_AGE: Final = Duration.hours(6)
ASSET_EXCLUDES: Final = [
    "**/__pycache__",
    "**/*.pyc",
    "**/*.egg-info",
    "**/.pytest_cache",
    "**/.mypy_cache",
    "**/.ruff_cache",
]

_RETENTION: Final = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def retention_days(days: int) -> logs.RetentionDays:
    return _RETENTION[days]


def powertools_ssm_parameter(version: str) -> str:
    """AWS-published parameter holding the Powertools layer ARN of that exact release."""
    return f"/aws/service/powertools/python/{ARCHITECTURE.name}/{RUNTIME.name}/{version}"


class ArchiverFunction(Construct):
    """Copies a finished job's outputs into the archive and records it in the table."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ArchiverConfig,
        storage: ArchiveStorage,
        key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, construct_id)

        # Where events end up that the archiver failed after every receive: the event
        # queue's dead-letter queue. Before events came through that queue it was the
        # function's on-failure destination; it stays here, under the same construct ID, so
        # that an upgrade keeps the queue, its URL and whatever it holds.
        self.on_failure_queue = DeadLetterQueue(self, "OnFailureQueue", key=key).queue
        self.log_group = logs.LogGroup(
            self,
            "LogGroup",
            retention=retention_days(config.log_retention_days),
            # Job names, media URIs and reasons are in the logs: the team's key covers them.
            encryption_key=key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="Transcribe archiver: read finished jobs, write the archive and history",
        )
        for statement in self._statements(config, storage, key):
            self.role.add_to_policy(statement)

        self.function = lambda_.Function(
            self,
            "Function",
            description="Archives every finished Amazon Transcribe job into S3 and DynamoDB",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=lambda_.Code.from_asset(str(LAMBDAS_DIR), exclude=ASSET_EXCLUDES),
            handler=HANDLER,
            timeout=TIMEOUT,
            memory_size=config.memory_size,
            tracing=lambda_.Tracing.ACTIVE,
            role=self.role,
            log_group=self.log_group,
            layers=[self._powertools_layer(config)],
            reserved_concurrent_executions=config.reserved_concurrency,
            environment=self.environment(config, storage),
            environment_encryption=key,
            # No on-failure destination: a sweep request parked in a queue is nothing
            # replay could use, and events no longer arrive asynchronously.
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=ASYNC_MAX_EVENT_AGE,
        )
        self._drop_redundant_role_dependency()
        self._suppress_reviewed_wildcards(config, storage)
        self._suppress_scan_findings(config, key)

    def _suppress_scan_findings(self, config: ArchiverConfig, key: kms.IKey | None) -> None:
        checks = {
            "CKV_AWS_116": (
                "Events come through the SQS event queue, whose own dead-letter queue holds "
                "what failed every receive; only the sweep schedule invokes asynchronously, "
                "and the next sweep makes up for a failed one."
            ),
            "CKV_AWS_117": (
                "No VPC: the function calls AWS APIs and fetches Transcribe's presigned S3 "
                "links over HTTPS and reaches no private resource; a VPC would only add NAT "
                "gateways or endpoints."
            ),
        }
        if config.reserved_concurrency is None:
            checks["CKV_AWS_115"] = (
                "Concurrency is bounded by the event source mapping's maximum concurrency "
                "(maxConcurrency); reserving some fails to deploy in accounts at the minimum "
                "quota, so it is opt-in (reservedConcurrency)."
            )
        if key is None:
            checks["CKV_AWS_173"] = (
                "The variables hold names (bucket, table, prefixes), no secrets; Lambda "
                "encrypts them at rest with its AWS-managed key; set kmsKeyArn for a "
                "customer-managed key."
            )
            suppress_findings(
                self.log_group,
                checkov={
                    "CKV_AWS_158": (
                        "CloudWatch Logs encrypts log data at rest by default; set kmsKeyArn "
                        "for a customer-managed key."
                    )
                },
            )
        suppress_findings(
            self.function,
            checkov=checks,
            cfn_lint={
                "WS1004": (
                    "The function logs to its own log group (LoggingConfig.LogGroup), which "
                    "has a retention; the rule only knows groups named /aws/lambda/<name>."
                )
            },
        )

    def _drop_redundant_role_dependency(self) -> None:
        # CDK makes the function DependsOn its role although `Role: !GetAtt` already
        # orders them (cfn-lint W3005); keep only the policy, so the function is created
        # with its permissions in place.
        stack = Stack.of(self)
        policy = self.role.node.find_child("DefaultPolicy").node.default_child
        function = self.function.node.default_child
        if not (isinstance(policy, CfnResource) and isinstance(function, CfnResource)):
            raise TypeError("unexpected construct tree under the archiver function")
        function.add_override("DependsOn", [stack.get_logical_id(policy)])

    @staticmethod
    def environment(config: ArchiverConfig, storage: ArchiveStorage) -> dict[str, str]:
        """Exactly the contract's variables, plus Powertools' own."""
        return {
            contract.ENV_ARCHIVE_BUCKET: storage.bucket.bucket_name,
            contract.ENV_JOBS_TABLE: storage.table.table_name,
            # Only AWS S3 hosts in production; loopback hosts are for local runs and tests.
            contract.ENV_ALLOWED_SOURCE_HOSTS: "",
            **ArchiverFunction.archiving_settings(config),
            "POWERTOOLS_SERVICE_NAME": contract.METRICS_SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": contract.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }

    @staticmethod
    def archiving_settings(config: ArchiverConfig) -> dict[str, str]:
        """Where and what the function archives: its variables that the CLI must share (the
        stack outputs them as contract.SETTINGS_OUTPUT), so that an operator's backfill,
        sweep, replay or purge archives into the same folders, the same way."""
        return {
            contract.ENV_ARCHIVE_PREFIX: config.archive_prefix,
            contract.ENV_CALL_ANALYTICS_PREFIX: config.call_analytics_prefix,
            contract.ENV_MEDICAL_PREFIX: config.medical_prefix,
            contract.ENV_MEDICAL_SCRIBE_PREFIX: config.medical_scribe_prefix,
            contract.ENV_ARCHIVE_UNREDACTED: "true" if config.archive_unredacted else "false",
            contract.ENV_MAX_OUTPUT_BYTES: str(contract.DEFAULT_MAX_OUTPUT_BYTES),
            **(
                {contract.ENV_HISTORY_RETENTION_DAYS: str(config.history_retention_days)}
                if config.history_retention_days is not None
                else {}
            ),
        }

    def _powertools_layer(self, config: ArchiverConfig) -> lambda_.ILayerVersion:
        if config.powertools_layer_arn:
            arn = config.powertools_layer_arn.replace("{region}", Aws.REGION)
        else:
            # Resolved by CloudFormation at deploy time in the stack's own region, so the
            # layer carries exactly the Powertools release requirements.txt pins.
            arn = ssm.StringParameter.value_for_string_parameter(
                self, powertools_ssm_parameter(config.powertools_version)
            )
        return lambda_.LayerVersion.from_layer_version_arn(self, "PowertoolsLayer", arn)

    def _statements(
        self, config: ArchiverConfig, storage: ArchiveStorage, key: kms.IKey | None
    ) -> list[iam.PolicyStatement]:
        stack = Stack.of(self)
        archive = [
            storage.archive_objects_arn,
            storage.call_analytics_objects_arn,
            storage.medical_objects_arn,
            storage.medical_scribe_objects_arn,
        ]
        kinds = [KIND_FACTS[kind] for kind in config.job_kinds]
        statements = [
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
            # Job names come from events and listings at run time: every job of a kind in
            # this account and region (the Service Authorization Reference's resource type).
            *(
                iam.PolicyStatement(
                    sid=f"Read{facts.api}s",
                    actions=[facts.get_action],
                    resources=[job_arn(stack, facts)],
                )
                for facts in kinds
            ),
            # The sweep lists finished (and unfinished) jobs; List actions take no resource.
            iam.PolicyStatement(
                sid="ListJobs",
                actions=[facts.list_action for facts in kinds],
                resources=["*"],
            ),
            # CreateMultipartUpload, UploadPart and CompleteMultipartUpload are all
            # authorized by s3:PutObject.
            # Every object is written with its tags (lifecycle rules target them), which S3
            # authorizes as PutObjectTagging on top of PutObject.
            iam.PolicyStatement(
                sid="WriteArchive",
                actions=["s3:PutObject", "s3:PutObjectTagging", "s3:AbortMultipartUpload"],
                resources=archive,
            ),
            # HeadObject (ChecksumMode=ENABLED) verifies the stored checksum after an upload.
            iam.PolicyStatement(
                sid="VerifyArchive",
                actions=["s3:GetObject"],
                resources=archive,
            ),
            iam.PolicyStatement(
                sid="WriteJobHistory",
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:Query",
                ],
                resources=storage.table_arns,
            ),
            # A run's marker in the sweep's bookkeeping is deleted once the run settles; the
            # function deletes nothing else in the table (the key's partition must be it).
            iam.PolicyStatement(
                sid="ClearSettledRunMarkers",
                actions=["dynamodb:DeleteItem"],
                resources=[storage.table.table_arn],
                conditions={
                    "ForAllValues:StringEquals": {
                        "dynamodb:LeadingKeys": [contract.UNSETTLED_PARTITION]
                    }
                },
            ),
        ]
        if config.source_buckets:
            statements.append(
                # Server-side copies name the exact version they measured when the output
                # bucket is versioned, which S3 authorizes as GetObjectVersion.
                iam.PolicyStatement(
                    sid="ReadTranscribeOutputBuckets",
                    actions=["s3:GetObject", "s3:GetObjectVersion"],
                    resources=[_objects_arn(stack, bucket) for bucket in config.source_buckets],
                )
            )
        if config.source_kms_key_arns:
            # Copies from output buckets encrypted with the team's own keys: decrypt only,
            # and only when S3 asks on the function's behalf.
            statements.append(
                iam.PolicyStatement(
                    sid="DecryptTranscribeOutputs",
                    actions=["kms:Decrypt"],
                    resources=list(config.source_kms_key_arns),
                    conditions={
                        "StringEquals": {"kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com"}
                    },
                )
            )
        if key is not None:
            # Only through S3 and DynamoDB, for the archive and the table (the event queue's
            # consumer policy decrypts through SQS, see event_rule.py).
            statements.append(
                iam.PolicyStatement(
                    sid="UseArchiveKey",
                    actions=[
                        "kms:Decrypt",
                        "kms:DescribeKey",
                        "kms:Encrypt",
                        "kms:GenerateDataKey",
                    ],
                    resources=[key.key_arn],
                    conditions={
                        "StringEquals": {
                            "kms:ViaService": [
                                f"{service}.{Aws.REGION}.amazonaws.com"
                                for service in ("s3", "dynamodb")
                            ]
                        }
                    },
                )
            )
        return statements

    def _suppress_reviewed_wildcards(self, config: ArchiverConfig, storage: ArchiveStorage) -> None:
        stack = Stack.of(self)
        kinds = [KIND_FACTS[kind] for kind in config.job_kinds]
        reviewed = [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "X-Ray PutTraceSegments/PutTelemetryRecords and the sweep's Transcribe "
                    f"{', '.join(facts.list_action.partition(':')[2] for facts in kinds)} "
                    "support no resource-level permissions."
                ),
                applies_to=["Resource::*"],
            ),
            *(
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Job names come from events at run time; the statement allows only "
                        f"{facts.get_action.partition(':')[2]} on this account's and region's "
                        f"{facts.resource_type} resources."
                    ),
                    applies_to=[_nag_resource(stack, job_arn(stack, facts))],
                )
                for facts in kinds
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "Object keys are {prefix}{JobName}/{CreationTime}/..., known only at run "
                    "time; access is confined to the job kinds' archive prefixes."
                ),
                applies_to=[
                    _nag_resource(stack, storage.archive_objects_arn),
                    _nag_resource(stack, storage.call_analytics_objects_arn),
                    _nag_resource(stack, storage.medical_objects_arn),
                    _nag_resource(stack, storage.medical_scribe_objects_arn),
                ],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=(
                    "History queries read the ByStatus and ByLanguage indexes of this table only."
                ),
                applies_to=[_nag_resource(stack, f"{storage.table.table_arn}/index/*")],
            ),
        ]
        if config.source_buckets:
            reviewed.append(
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Transcribe names its output objects per job; read-only GetObject on "
                        "the team's configured Transcribe output buckets."
                    ),
                    applies_to=[
                        _nag_resource(stack, _objects_arn(stack, bucket))
                        for bucket in config.source_buckets
                    ],
                )
            )
        NagSuppressions.add_resource_suppressions(self.role, reviewed, apply_to_children=True)


def job_arn(stack: Stack, facts: KindFacts) -> str:
    """Every job of one kind in the stack's account and region."""
    return stack.format_arn(service="transcribe", resource=facts.resource_type, resource_name="*")


def _objects_arn(stack: Stack, bucket_name: str) -> str:
    return stack.format_arn(
        service="s3", region="", account="", resource=bucket_name, resource_name="*"
    )


def _nag_resource(stack: Stack, arn: str) -> str:
    """The ``Resource::...`` finding string cdk-nag prints for a (possibly token) ARN."""
    resolved = stack.resolve(arn)
    return f"Resource::{_nag_render(resolved)}"


def _nag_render(value: object) -> str:
    # Mirrors how cdk-nag flattens intrinsics in IAM5 findings: Ref -> <Name>,
    # GetAtt -> <Resource.Attr>, Join -> concatenation.
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Ref" in value:
            return f"<{value['Ref']}>"
        if "Fn::GetAtt" in value:
            return f"<{'.'.join(value['Fn::GetAtt'])}>"
        if "Fn::Join" in value:
            separator, parts = value["Fn::Join"]
            return str(separator).join(_nag_render(part) for part in parts)
    raise ValueError(f"cannot render {value!r} as a cdk-nag finding")

"""Where archived jobs live: the archive bucket and the history table.

Both are created here unless the configuration names existing ones, which are then
adopted by reference: no resource is declared for them, but every policy below still
points at them.
"""

from __future__ import annotations

from archiver import contract
from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import ArchiverConfig
from infra.scan_findings import suppress_findings

#: Parts of an upload that failed half-way cost money and are never completed by a retry
#: (a retry starts a new upload), so they are cleaned up after a week.
ABORT_INCOMPLETE_UPLOADS_AFTER = Duration.days(7)
ACCESS_LOG_PREFIX = "archive-bucket/"
#: Overwritten or deleted access logs are kept this long, then go.
ACCESS_LOG_NONCURRENT_EXPIRY = Duration.days(30)
KMS_TAIL = "set kmsKeyArn for a customer-managed key."


class ArchiveStorage(Construct):
    """The archive bucket (+ its access-log bucket) and the job-history table."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ArchiverConfig,
        key: kms.IKey | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._prefix = config.archive_prefix
        self._analytics_prefix = config.call_analytics_prefix
        self._medical_prefix = config.medical_prefix
        self._medical_scribe_prefix = config.medical_scribe_prefix
        self.access_log_bucket: s3.Bucket | None = None
        self.bucket = self._adopt_or_create_bucket(config, key)
        self.table = self._adopt_or_create_table(config, key)

    @property
    def archive_objects_arn(self) -> str:
        """Every object under the archive prefix, and nothing else in the bucket."""
        return self.bucket.arn_for_objects(f"{self._prefix}*")

    @property
    def call_analytics_objects_arn(self) -> str:
        """Every object under the Call Analytics prefix (a folder beside the archive's)."""
        return self.bucket.arn_for_objects(f"{self._analytics_prefix}*")

    @property
    def medical_objects_arn(self) -> str:
        """Every object under the Medical prefix."""
        return self.bucket.arn_for_objects(f"{self._medical_prefix}*")

    @property
    def medical_scribe_objects_arn(self) -> str:
        """Every object under the HealthScribe prefix."""
        return self.bucket.arn_for_objects(f"{self._medical_scribe_prefix}*")

    @property
    def table_arns(self) -> list[str]:
        """The table and its indexes (history queries read ByStatus and ByLanguage)."""
        return [self.table.table_arn, f"{self.table.table_arn}/index/*"]

    def _adopt_or_create_bucket(self, config: ArchiverConfig, key: kms.IKey | None) -> s3.IBucket:
        if config.archive_bucket_name is not None:
            return s3.Bucket.from_bucket_name(self, "ArchiveBucket", config.archive_bucket_name)

        self.access_log_bucket = s3.Bucket(
            self,
            "AccessLogBucket",
            # S3 server access logging can only deliver to SSE-S3 buckets.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            # Versioned, so a log cannot be silently overwritten; old versions go soon after.
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireAccessLogs",
                    expiration=Duration.days(config.log_retention_days),
                    noncurrent_version_expiration=ACCESS_LOG_NONCURRENT_EXPIRY,
                    abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        suppress_findings(
            self.access_log_bucket,
            checkov={
                "CKV_AWS_18": (
                    "This is the access-log bucket: logging its own deliveries would loop. It "
                    "is versioned, TLS-only, blocks public access and expires old logs."
                )
            },
        )

        return s3.Bucket(
            self,
            "ArchiveBucket",
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            encryption=s3.BucketEncryption.KMS if key else s3.BucketEncryption.S3_MANAGED,
            encryption_key=key,
            # One data key per bucket instead of one KMS call per object.
            bucket_key_enabled=True if key else None,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix=ACCESS_LOG_PREFIX,
            lifecycle_rules=_archive_lifecycle_rules(config),
            object_lock_enabled=True if config.object_lock_mode else None,
            object_lock_default_retention=_object_lock(config),
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _adopt_or_create_table(
        self, config: ArchiverConfig, key: kms.IKey | None
    ) -> dynamodb.ITable:
        if config.jobs_table_name is not None:
            return dynamodb.Table.from_table_attributes(
                self,
                "JobsTable",
                table_name=config.jobs_table_name,
                global_indexes=list(contract.INDEXES),
                encryption_key=key,
            )

        table = dynamodb.Table(
            self,
            "JobsTable",
            partition_key=_string_attribute(contract.PARTITION_KEY),
            sort_key=_string_attribute(contract.SORT_KEY),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=True,
            encryption=(
                dynamodb.TableEncryption.CUSTOMER_MANAGED
                if key
                else dynamodb.TableEncryption.AWS_MANAGED
            ),
            encryption_key=key,
            time_to_live_attribute=(
                contract.TTL_ATTRIBUTE if config.history_retention_days is not None else None
            ),
            removal_policy=RemovalPolicy.RETAIN,
        )
        if key is None:
            suppress_findings(
                table,
                checkov={
                    "CKV_AWS_119": (
                        f"Encrypted at rest with the AWS-managed key (aws/dynamodb); {KMS_TAIL}"
                    )
                },
            )
        for index_name, (partition_key, sort_key) in contract.INDEXES.items():
            table.add_global_secondary_index(
                index_name=index_name,
                partition_key=_string_attribute(partition_key),
                sort_key=_string_attribute(sort_key),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        return table


def _string_attribute(name: str) -> dynamodb.Attribute:
    return dynamodb.Attribute(name=name, type=dynamodb.AttributeType.STRING)


def _object_lock(config: ArchiverConfig) -> s3.ObjectLockRetention | None:
    if config.object_lock_mode is None or config.object_lock_days is None:
        return None
    days = Duration.days(config.object_lock_days)
    if config.object_lock_mode == "COMPLIANCE":
        return s3.ObjectLockRetention.compliance(days)
    return s3.ObjectLockRetention.governance(days)


def _archive_lifecycle_rules(config: ArchiverConfig) -> list[s3.LifecycleRule]:
    rules = [
        s3.LifecycleRule(
            id="AbortIncompleteUploads",
            abort_incomplete_multipart_upload_after=ABORT_INCOMPLETE_UPLOADS_AFTER,
        )
    ]
    if config.unredacted_retention_days is not None:
        # The unredacted transcript of a redacted job, by the tags every object carries;
        # its older versions too, or a plain expiry would only hide it.
        after = Duration.days(config.unredacted_retention_days)
        rules.append(
            s3.LifecycleRule(
                id="ExpireUnredactedTranscripts",
                tag_filters={
                    contract.TAG_ARCHIVE_OBJECT: contract.TRANSCRIPT,
                    contract.TAG_JOB_REDACTED: "true",
                },
                expiration=after,
                noncurrent_version_expiration=Duration.days(1),
            )
        )
    if config.noncurrent_version_retention_days is not None:
        rules.append(
            s3.LifecycleRule(
                id="ExpireNoncurrentVersions",
                noncurrent_version_expiration=Duration.days(
                    config.noncurrent_version_retention_days
                ),
                expired_object_delete_marker=True,
            )
        )
    if config.transition_to_glacier_after_days is not None:
        after = Duration.days(config.transition_to_glacier_after_days)
        rules.append(
            s3.LifecycleRule(
                id="TransitionToGlacier",
                transitions=[
                    s3.Transition(storage_class=s3.StorageClass.GLACIER, transition_after=after)
                ],
                noncurrent_version_transitions=[
                    s3.NoncurrentVersionTransition(
                        storage_class=s3.StorageClass.GLACIER, transition_after=after
                    )
                ],
            )
        )
    return rules

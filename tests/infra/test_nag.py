"""cdk-nag AwsSolutions: nothing unsuppressed, in any configuration."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks

from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra

AWS_SOLUTIONS = Match.string_like_regexp("AwsSolutions-.*")


def test_given_a_noncompliant_queue_then_this_harness_reports_it(tmp_path: Path) -> None:
    # Control: proves the checks below would see findings if there were any.
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Control")
    sqs.Queue(stack, "PlainQueue")
    cdk.Aspects.of(stack).add(AwsSolutionsChecks(reports=False))

    errors = Annotations.from_stack(stack).find_error("*", AWS_SOLUTIONS)

    assert any("AwsSolutions-SQS3" in str(error.entry.data) for error in errors)


def test_given_every_configuration_then_no_unsuppressed_nag_errors(each: Synth) -> None:
    errors = each.annotations.find_error("*", AWS_SOLUTIONS)

    assert [f"{e.id}: {e.entry.data}" for e in errors] == []


def test_given_every_configuration_then_no_unsuppressed_nag_warnings(each: Synth) -> None:
    warnings = each.annotations.find_warning("*", AWS_SOLUTIONS)

    assert [f"{w.id}: {w.entry.data}" for w in warnings] == []


def test_given_every_configuration_then_each_suppression_gives_a_reason(each: Synth) -> None:
    suppressions = [
        rule
        for resource in each.json["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]

    assert suppressions, "expected the reviewed IAM5/SQS3 suppressions"
    for rule in suppressions:
        assert len(rule["reason"]) >= 40, rule
        if rule["id"] == "AwsSolutions-IAM5":
            # Wildcard findings are suppressed one reviewed resource at a time.
            assert rule["applies_to"], rule

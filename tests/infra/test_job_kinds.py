"""``jobKinds``: the kinds a deployment subscribes to, grants and sweeps, and nothing else.

A region without Call Analytics must be able to leave it out: no rule for its events, no
grant on its jobs, and a sweep that does not list it every period.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from archiver import contract
from archiver.contract import JobKind
from aws_cdk.assertions import Match

from infra.config import KEY_JOB_KINDS, ArchiverConfig, ConfigError
from infra.job_kinds import KIND_FACTS
from tests.infra.conftest import ROOT, Synth, as_list, function_statements, render, synthesize
from tests.integration.iam_harness import readme_operator_policy

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def transcription_only(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize({KEY_JOB_KINDS: "TRANSCRIPTION"}, tmp_path_factory.mktemp("kinds"))


def granted(synth: Synth) -> dict[str, list[str]]:
    """Transcribe action -> the resources the function's role grants it on."""
    found: dict[str, list[str]] = {}
    for statement in function_statements(synth):
        for action in as_list(statement["Action"]):
            if action.startswith("transcribe:"):
                found.setdefault(action, []).extend(
                    render(r) for r in as_list(statement["Resource"])
                )
    return found


def rule_patterns(synth: Synth) -> list[dict[str, Any]]:
    return [
        rule["Properties"]["EventPattern"]
        for rule in synth.resources("AWS::Events::Rule").values()
        if "EventPattern" in rule["Properties"]
    ]


def sweep_input(synth: Synth) -> dict[str, Any]:
    _, rule = synth.named("AWS::Events::Rule", "SweepRule")
    (target,) = rule["Properties"]["Targets"]
    loaded: dict[str, Any] = json.loads(target["Input"])
    return loaded


def test_every_kind_of_the_contract_has_its_row_of_stack_facts() -> None:
    assert set(KIND_FACTS) == set(JobKind)
    for kind, facts in KIND_FACTS.items():
        assert facts.kind is kind
        assert facts.event_pattern == contract.EVENT_PATTERNS.get(kind)


def test_given_no_job_kinds_then_every_kind_is_subscribed_granted_and_swept(
    default: Synth,
) -> None:
    assert default.config.job_kinds == tuple(JobKind)
    patterns = rule_patterns(default)
    assert sorted(json.dumps(p, sort_keys=True) for p in patterns) == sorted(
        json.dumps(p, sort_keys=True) for p in contract.EVENT_PATTERNS.values()
    )
    actions = granted(default)
    prefix = "arn:<AWS::Partition>:transcribe:<AWS::Region>:<AWS::AccountId>:"
    for facts in KIND_FACTS.values():
        assert actions[facts.get_action] == [f"{prefix}{facts.resource_type}/*"]
        assert actions[facts.list_action] == ["*"]
    assert sweep_input(default)["kinds"] == [kind.value for kind in JobKind]


def test_given_transcription_only_then_call_analytics_has_no_rule_no_grant_no_sweep(
    transcription_only: Synth,
) -> None:
    assert rule_patterns(transcription_only) == [contract.TRANSCRIPTION_EVENT_PATTERN]
    assert set(granted(transcription_only)) == {
        "transcribe:GetTranscriptionJob",
        "transcribe:ListTranscriptionJobs",
    }
    assert sweep_input(transcription_only)["kinds"] == ["TRANSCRIPTION"]
    # cdk-nag still finds every wildcard reviewed (its suppressions follow the kinds).
    errors = transcription_only.annotations.find_error("*", Match.string_like_regexp(".*"))
    assert errors == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("CALL_ANALYTICS", (JobKind.CALL_ANALYTICS,)),
        ("call-analytics, transcription", (JobKind.CALL_ANALYTICS, JobKind.TRANSCRIPTION)),
        (["TRANSCRIPTION", "TRANSCRIPTION"], (JobKind.TRANSCRIPTION,)),
        (None, tuple(JobKind)),
    ],
)
def test_given_job_kinds_in_either_spelling_then_they_are_read(
    value: object, expected: tuple[JobKind, ...]
) -> None:
    assert ArchiverConfig.from_mapping({KEY_JOB_KINDS: value}).job_kinds == expected


@pytest.mark.parametrize("value", ["MEDICAL_TRANSLATION", "transcription,bogus", [], ",", 3])
def test_given_an_unknown_or_no_job_kind_then_the_synth_stops_naming_the_key(
    value: object,
) -> None:
    with pytest.raises(ConfigError) as raised:
        ArchiverConfig.from_mapping({KEY_JOB_KINDS: value})

    assert raised.value.key == KEY_JOB_KINDS
    assert "CDK context 'jobKinds'" in str(raised.value)


def test_given_an_unknown_kind_on_the_command_line_then_app_py_exits_naming_the_key(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=ROOT,
        # How the CDK CLI hands `-c jobKinds=TRANSCRIPTION,PODCAST` to the app.
        env={
            **os.environ,
            "CDK_OUTDIR": str(tmp_path),
            "CDK_CONTEXT_JSON": json.dumps({KEY_JOB_KINDS: "TRANSCRIPTION,PODCAST"}),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode != 0
    assert "Invalid configuration: CDK context 'jobKinds' has an unknown job kind 'PODCAST'" in (
        result.stderr
    )
    assert not list(tmp_path.glob("*.template.json"))


def test_the_readme_operator_policy_grants_every_kind_its_get_list_and_delete() -> None:
    policy = readme_operator_policy(
        {
            "region": "eu-west-1",
            "account": "123456789012",
            "stackName": "TranscribeArchiver",
            "JobsTableName": "jobs",
            "ArchiveBucketName": "archive",
            "archivePrefix": "transcripts/",
            "callAnalyticsPrefix": "call-analytics/",
            "medicalPrefix": "medical/",
            "medicalScribePrefix": "medical-scribe/",
            "sourceBucket": "team",
        }
    )
    granted: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        for action in as_list(statement["Action"]):
            granted.setdefault(action, set()).update(as_list(statement["Resource"]))

    for facts in KIND_FACTS.values():
        jobs = f"arn:aws:transcribe:eu-west-1:123456789012:{facts.resource_type}/*"
        assert granted.get(facts.get_action) == {jobs}
        assert granted.get(facts.delete_action) == {jobs}
        assert granted.get(facts.list_action) == {"*"}

"""What the stack needs to know about each job kind, in one table.

A kind gets an EventBridge rule when the contract has an event pattern for it (Medical and
HealthScribe jobs send none: only the sweep finds them), read grants on its jobs' IAM
resource type, List grants for the sweep, and a place in the sweep schedule's ``kinds``.
Adding a kind to the stack is one row of :data:`KIND_FACTS`; the ``jobKinds`` context key
(``infra.config``) picks the rows a deployment uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from archiver import contract
from archiver.contract import JobKind


@dataclass(frozen=True)
class KindFacts:
    """One job kind as IAM and EventBridge see it."""

    kind: JobKind
    #: The API's noun: Get{api}, List{api}s and Delete{api} are its IAM actions.
    api: str
    #: The resource type in the Service Authorization Reference: ``{type}/{JobName}``.
    #: Call Analytics jobs are ``analytics/``, not ``analytics-job/``.
    resource_type: str

    @property
    def get_action(self) -> str:
        return f"transcribe:Get{self.api}"

    @property
    def list_action(self) -> str:
        """The sweep's listing; List actions take no resource-level permission (``*``)."""
        return f"transcribe:List{self.api}s"

    @property
    def delete_action(self) -> str:
        """Only an operator's ``purge --also-transcribe`` deletes; the function never does."""
        return f"transcribe:Delete{self.api}"

    @property
    def event_pattern(self) -> dict[str, Any] | None:
        """The contract's EventBridge pattern for the kind, or None: no event, sweep only."""
        return contract.EVENT_PATTERNS.get(self.kind)


KIND_FACTS: Final[Mapping[JobKind, KindFacts]] = {
    facts.kind: facts
    for facts in (
        KindFacts(JobKind.TRANSCRIPTION, api="TranscriptionJob", resource_type="transcription-job"),
        KindFacts(JobKind.CALL_ANALYTICS, api="CallAnalyticsJob", resource_type="analytics"),
        KindFacts(
            JobKind.MEDICAL,
            api="MedicalTranscriptionJob",
            resource_type="medical-transcription-job",
        ),
        KindFacts(
            JobKind.MEDICAL_SCRIBE, api="MedicalScribeJob", resource_type="medical-scribe-job"
        ),
    )
}

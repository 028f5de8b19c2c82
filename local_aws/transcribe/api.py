"""The Transcribe JSON API (awsJson1_1, ``X-Amz-Target: Transcribe.<Op>``), table-driven.

:data:`OPERATIONS` maps each implemented operation to its handler; :func:`answer` applies
injected faults and quotas first, as the service's front door would. Response shapes and
key order follow the API reference, so botocore parses them as it parses the service's.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import Message
from typing import TYPE_CHECKING, Any, Final, cast

from local_aws.transcribe import analytics, medical, scribe
from local_aws.transcribe.faults import ApiFaultKind
from local_aws.transcribe.jobs import JobRun
from local_aws.transcribe.model import (
    JOB_NAME,
    JOB_NOT_FOUND_MESSAGE,
    JOB_STATUSES,
    OutputName,
)

if TYPE_CHECKING:
    from local_aws.transcribe.double import FakeTranscribe

#: List…Jobs page size when MaxResults is absent: the API reference says 5
#: ("If you do not specify a value, a default of 5 is used"), so callers must pass 100.
LIST_DEFAULT_MAX_RESULTS: Final = 5
#: The API accepts small JSON bodies only; anything larger is refused before parsing.
MAX_API_BODY: Final = 1024 * 1024
#: A link for one output of a run, signed for the response being built.
LinkFor = Callable[[JobRun, OutputName], str]


class ApiError(Exception):
    """An API error answer: HTTP status, ``__type`` code, message, and the fault if any."""

    def __init__(self, status: int, code: str, message: str, fault: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fault = status, code, message, fault


def _validation(message: str) -> ApiError:
    return ApiError(400, "ValidationException", f"1 validation error detected: {message}")


@dataclass(frozen=True)
class Operation:
    handle: Callable[[FakeTranscribe, Mapping[str, Any]], dict[str, Any]]
    #: The request member naming the job, recorded in the request log.
    job_member: str | None = None
    #: IAM's resource type of the job it names (``transcription-job``); None: List calls,
    #: which IAM authorizes on ``*`` only.
    resource_type: str | None = None


#: Asks whether a request may run: (method, path, headers, body, "transcribe:Op", resource
#: ARN) -> None when allowed, else why not (see ``local_aws.enforced_aws``).
Authorizer = Callable[[str, str, Mapping[str, str], bytes, str, str], "str | None"]


def resource_arn(op: str, body: Mapping[str, Any], region: str, account_id: str) -> str:
    """The IAM resource a call acts on: the named job's ARN, or ``*``."""
    operation = OPERATIONS.get(op)
    if operation is None or operation.resource_type is None or operation.job_member is None:
        return "*"
    name = body.get(operation.job_member)
    if not isinstance(name, str):
        return "*"
    return f"arn:aws:transcribe:{region}:{account_id}:{operation.resource_type}/{name}"


# --------------------------------------------------------------------------- the front door
def parse_request(headers: Message, raw: bytes) -> tuple[str, dict[str, Any]]:
    """(operation, JSON body) of a request, once protocol, authentication and target
    check out."""
    target = headers.get("X-Amz-Target", "")
    op = operation_of(headers)
    if not target and "rpc-v2-cbor" in headers.get("smithy-protocol", ""):
        # botocore picks awsJson1_1 for Transcribe today; if a future one prefers
        # Smithy RPCv2 CBOR this says why instead of failing obscurely.
        raise ApiError(
            415,
            "UnknownOperationException",
            "The Transcribe double speaks awsJson1_1 only, not smithy-rpc-v2-cbor",
        )
    # botocore always signs; the double checks a SigV4 header is there, not its maths.
    auth = headers.get("Authorization", "")
    if not auth:
        raise ApiError(
            400, "MissingAuthenticationTokenException", "Request is missing Authentication Token"
        )
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        raise ApiError(400, "IncompleteSignatureException", "Authorization header is not SigV4")
    if op is None:
        raise ApiError(400, "UnknownOperationException", f"Unknown target {target!r}")
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "SerializationException", "Body is not JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "SerializationException", "Body is not a JSON object")
    return op, body


def operation_of(headers: Message) -> str | None:
    """The operation a request targets, for the log of one that failed before parsing."""
    target = headers.get("X-Amz-Target", "")
    return target.removeprefix("Transcribe.") if target.startswith("Transcribe.") else None


def answer(double: FakeTranscribe, op: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """The response to one call: an injected fault, a quota refusal, or the operation's."""
    fault = double.api_faults.take(op)
    if fault is not None:
        raise _fault_error(fault, double.throttle_status, op)
    if not double.quotas.allow(op):
        raise ApiError(
            double.throttle_status, "LimitExceededException", "Rate exceeded", "throttle"
        )
    operation = OPERATIONS.get(op)
    if operation is None:
        raise ApiError(
            400, "UnknownOperationException", f"The Transcribe double does not implement {op}"
        )
    return operation.handle(double, body)


def recorded_job(op: str, body: Mapping[str, Any]) -> str | None:
    """The job a successful call named, for the request log."""
    operation = OPERATIONS.get(op)
    member = operation.job_member if operation else None
    name = body.get(member) if member else None
    return name if isinstance(name, str) else None


def _fault_error(fault: ApiFaultKind, throttle_status: int, op: str) -> ApiError:
    if fault == "throttle":
        return ApiError(throttle_status, "LimitExceededException", "Rate exceeded", fault)
    if fault == "internal":
        return ApiError(
            500,
            "InternalFailureException",
            "We can't process your request because of an issue in our service. "
            "Try your request again.",
            fault,
        )
    if fault == "not_found":
        return ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE, fault)
    if fault == "access_denied":
        # What IAM answers a role the stack did not grant the operation.
        return ApiError(
            400,
            "AccessDeniedException",
            "User: arn:aws:sts::123456789012:assumed-role/archiver/fn is not authorized to "
            f"perform: transcribe:{op}",
            fault,
        )
    if fault == "html_forbidden":
        # What a proxy or firewall in front of the service answers: a web page, no JSON.
        return ApiError(403, "", "Forbidden", fault)
    return ApiError(
        400,
        "NotFoundException",
        "We can't find the requested resource. Check that the specified name is "
        "correct and try your request again.",
        fault,
    )


def job_name_param(body: Mapping[str, Any], member: str) -> str:
    name = body.get(member)
    field_name = member[0].lower() + member[1:]
    if not isinstance(name, str):
        raise _validation(
            f"Value null at '{field_name}' failed to satisfy constraint: Member must not be null"
        )
    if not 1 <= len(name) <= 200 or not JOB_NAME.match(name):
        raise _validation(
            f"Value '{name}' at '{field_name}' failed to satisfy constraint: Member must "
            "satisfy regular expression pattern: ^[0-9a-zA-Z._-]+ and have length 1-200"
        )
    return name


# --------------------------------------------------------------------------- operations
def get_transcription_job(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    run = double.transcription_jobs.find(job_name_param(body, "TranscriptionJobName"))
    if run is None:
        raise ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE)
    return {"TranscriptionJob": job_json(run, double.response_links())}


def list_transcription_jobs(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    return _list(body, double.transcription_jobs.runs(), "TranscriptionJobSummaries", summary)


def _list(
    body: Mapping[str, Any],
    all_runs: list[JobRun],
    member: str,
    summarize: Callable[[JobRun], dict[str, Any]],
) -> dict[str, Any]:
    """One page of a List…Jobs answer (both kinds page and filter alike)."""
    status = body.get("Status")
    if status is not None and status not in JOB_STATUSES:
        raise _validation(
            f"Value '{status}' at 'status' failed to satisfy constraint: Member must "
            "satisfy enum value set: [QUEUED, IN_PROGRESS, FAILED, COMPLETED]"
        )
    contains = body.get("JobNameContains")
    if contains is not None:
        contains = job_name_param(body, "JobNameContains").lower()
    max_results = _max_results(body)
    after = _decode_token(body.get("NextToken"))
    runs = [
        r
        for r in all_runs
        if (status is None or r.status == status)
        and (contains is None or contains in r.name.lower())
    ]
    page, token = _page(runs, max_results, after)
    response: dict[str, Any] = {}
    if status is not None:
        response["Status"] = status
    if token is not None:
        response["NextToken"] = token
    response[member] = [summarize(r) for r in page]
    return response


def delete_transcription_job(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    try:
        double.delete_job(job_name_param(body, "TranscriptionJobName"), kind="transcription")
    except KeyError:
        raise ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE) from None
    return {}


def get_call_analytics_job(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    run = double.call_analytics_jobs.find(job_name_param(body, "CallAnalyticsJobName"))
    if run is None:
        raise ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE)
    return {"CallAnalyticsJob": analytics.job_json(run, double.response_links())}


def list_call_analytics_jobs(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    return _list(
        body, double.call_analytics_jobs.runs(), "CallAnalyticsJobSummaries", analytics.summary
    )


def delete_call_analytics_job(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    try:
        double.delete_job(job_name_param(body, "CallAnalyticsJobName"), kind="call-analytics")
    except KeyError:
        raise ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE) from None
    return {}


def get_medical_transcription_job(
    double: FakeTranscribe, body: Mapping[str, Any]
) -> dict[str, Any]:
    run = double.medical_jobs.find(job_name_param(body, "MedicalTranscriptionJobName"))
    if run is None:
        raise ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE)
    return {"MedicalTranscriptionJob": medical.job_json(run, double.response_links())}


def list_medical_transcription_jobs(
    double: FakeTranscribe, body: Mapping[str, Any]
) -> dict[str, Any]:
    return _list(
        body, double.medical_jobs.runs(), "MedicalTranscriptionJobSummaries", medical.summary
    )


def delete_medical_transcription_job(
    double: FakeTranscribe, body: Mapping[str, Any]
) -> dict[str, Any]:
    try:
        double.delete_job(job_name_param(body, "MedicalTranscriptionJobName"), kind="medical")
    except KeyError:
        raise ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE) from None
    return {}


def get_medical_scribe_job(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    run = double.medical_scribe_jobs.find(job_name_param(body, "MedicalScribeJobName"))
    if run is None:
        raise ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE)
    return {"MedicalScribeJob": scribe.job_json(run, double.response_links())}


def list_medical_scribe_jobs(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    return _list(
        body, double.medical_scribe_jobs.runs(), "MedicalScribeJobSummaries", scribe.summary
    )


def delete_medical_scribe_job(double: FakeTranscribe, body: Mapping[str, Any]) -> dict[str, Any]:
    try:
        double.delete_job(job_name_param(body, "MedicalScribeJobName"), kind="medical-scribe")
    except KeyError:
        raise ApiError(400, "BadRequestException", JOB_NOT_FOUND_MESSAGE) from None
    return {}


OPERATIONS: Final[Mapping[str, Operation]] = {
    "GetTranscriptionJob": Operation(
        get_transcription_job, "TranscriptionJobName", "transcription-job"
    ),
    "ListTranscriptionJobs": Operation(list_transcription_jobs),
    "DeleteTranscriptionJob": Operation(
        delete_transcription_job, "TranscriptionJobName", "transcription-job"
    ),
    # Call Analytics jobs are "analytics/" in the Service Authorization Reference.
    "GetCallAnalyticsJob": Operation(get_call_analytics_job, "CallAnalyticsJobName", "analytics"),
    "ListCallAnalyticsJobs": Operation(list_call_analytics_jobs),
    "DeleteCallAnalyticsJob": Operation(
        delete_call_analytics_job, "CallAnalyticsJobName", "analytics"
    ),
    "GetMedicalTranscriptionJob": Operation(
        get_medical_transcription_job, "MedicalTranscriptionJobName", "medical-transcription-job"
    ),
    "ListMedicalTranscriptionJobs": Operation(list_medical_transcription_jobs),
    "DeleteMedicalTranscriptionJob": Operation(
        delete_medical_transcription_job,
        "MedicalTranscriptionJobName",
        "medical-transcription-job",
    ),
    "GetMedicalScribeJob": Operation(
        get_medical_scribe_job, "MedicalScribeJobName", "medical-scribe-job"
    ),
    "ListMedicalScribeJobs": Operation(list_medical_scribe_jobs),
    "DeleteMedicalScribeJob": Operation(
        delete_medical_scribe_job, "MedicalScribeJobName", "medical-scribe-job"
    ),
}


# --------------------------------------------------------------------------- paging
def _max_results(body: Mapping[str, Any]) -> int:
    max_results = body.get("MaxResults", LIST_DEFAULT_MAX_RESULTS)
    if not isinstance(max_results, int) or isinstance(max_results, bool):
        raise ApiError(400, "SerializationException", "MaxResults must be an integer")
    if not 1 <= max_results <= 100:
        bound = "greater than or equal to 1" if max_results < 1 else "less than or equal to 100"
        raise _validation(
            f"Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    return max_results


def _page(
    runs: list[JobRun], max_results: int, after: tuple[int, str, str] | None
) -> tuple[list[JobRun], str | None]:
    """One page of ``runs``, newest CreationTime first, and the token of the next, if any."""

    # Name and run id break ties, so pages never overlap.
    def position(run: JobRun) -> tuple[int, str, str]:
        return -run.creation_ms, run.name, run.run_id

    ordered = sorted(runs, key=position)
    if after is not None:
        ordered = [r for r in ordered if position(r) > after]
    page, rest = ordered[:max_results], ordered[max_results:]
    if not rest:
        return page, None
    token = json.dumps(list(position(page[-1]))).encode()
    return page, base64.urlsafe_b64encode(token).decode()


def _decode_token(token: object) -> tuple[int, str, str] | None:
    if token is None:
        return None
    invalid = ApiError(400, "BadRequestException", "The NextToken is not valid.")
    if not isinstance(token, str):
        raise invalid
    try:
        creation, name, run_id = json.loads(base64.urlsafe_b64decode(token.encode()))
        return int(creation), str(name), str(run_id)
    except (ValueError, TypeError, binascii.Error):
        raise invalid from None


# --------------------------------------------------------------------------- shapes
def job_json(run: JobRun, link: LinkFor) -> dict[str, Any]:
    """GetTranscriptionJob's ``TranscriptionJob`` for a run, with links from ``link``."""
    ordered: dict[str, Any] = {}
    for key, value in copy.deepcopy(run.static).items():
        ordered[key] = value
        if key != "Media":
            continue
        # Transcript and the times follow Media, as in the reference's response syntax.
        transcript: dict[str, str | None] = {}
        for out, uri_key in (
            ("transcript", "TranscriptFileUri"),
            ("redacted", "RedactedTranscriptFileUri"),
        ):
            out_name = cast(OutputName, out)
            if out_name not in run.outputs or out_name in run.missing_outputs:
                continue
            transcript[uri_key] = None if out_name in run.null_outputs else link(run, out_name)
        if transcript:
            ordered["Transcript"] = transcript
        if run.start_ms is not None:
            ordered["StartTime"] = run.start_ms / 1000
        ordered["CreationTime"] = run.creation_ms / 1000
        if run.completion_ms is not None:
            ordered["CompletionTime"] = run.completion_ms / 1000
    subtitles = ordered.get("Subtitles")
    if subtitles is not None and run.status == "COMPLETED":
        uris: list[str | None] = []
        for fmt in run.subtitle_formats:
            out_name = cast(OutputName, fmt)
            if out_name in run.missing_outputs:
                continue
            uris.append(None if out_name in run.null_outputs else link(run, out_name))
        subtitles["SubtitleFileUris"] = uris
        # Keep the reference's key order: Formats, SubtitleFileUris, OutputStartIndex.
        subtitles["OutputStartIndex"] = subtitles.pop("OutputStartIndex")
    return ordered


def summary(run: JobRun) -> dict[str, Any]:
    """ListTranscriptionJobs' ``TranscriptionJobSummary`` for a run."""
    s = run.static
    result: dict[str, Any] = {
        "TranscriptionJobName": run.name,
        "CreationTime": run.creation_ms / 1000,
    }
    if run.start_ms is not None:
        result["StartTime"] = run.start_ms / 1000
    if run.completion_ms is not None:
        result["CompletionTime"] = run.completion_ms / 1000
    if "LanguageCode" in s:
        result["LanguageCode"] = s["LanguageCode"]
    result["TranscriptionJobStatus"] = run.status
    if "FailureReason" in s:
        result["FailureReason"] = s["FailureReason"]
    if run.status == "COMPLETED":
        result["OutputLocationType"] = (
            "CUSTOMER_BUCKET" if run.output_bucket is not None else "SERVICE_BUCKET"
        )
    for key in (
        "ContentRedaction",
        "IdentifyLanguage",
        "IdentifyMultipleLanguages",
        "IdentifiedLanguageScore",
        "LanguageCodes",
    ):
        if key in s:
            result[key] = copy.deepcopy(s[key])
    return result

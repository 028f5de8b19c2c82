"""A faithful local Amazon Transcribe: the JSON API and the output links, on one loopback port.

Why not moto's Transcribe mock: its jobs never FAIL, it has no redaction, tags or subtitles,
and its "links" cannot be fetched. The archiver's hard parts are exactly those, so this
double serves, from one ``ThreadingHTTPServer`` on ``127.0.0.1``:

* the Transcribe API in the awsJson1_1 protocol botocore uses for it (``api``):
  ``GetTranscriptionJob``, ``ListTranscriptionJobs`` and ``DeleteTranscriptionJob``, with
  the real error shapes, optional quotas (token buckets answering
  ``LimitExceededException``) and injected API faults (``faults``);
* the service-managed bucket's presigned links (``links``, ``serving``), with S3's
  semantics: ``Content-Length``/``ETag``/``Range``, XML errors, expiry after
  ``X-Amz-Expires``, a signature check, and injected link faults (:class:`Fault`).

Jobs that name the team's own bucket (``output_bucket=``) have their outputs written into
that bucket through the S3 client given to :class:`FakeTranscribe` (normally moto, see
``local_aws.embedded_aws``), and get the real ``https://s3.<region>.amazonaws.com/...``
links, which the archiver must resolve through the S3 API.

Modules, by concern: ``double`` (:class:`FakeTranscribe`, the public face), ``jobs`` (what
a job is and the JSON fields it has), ``store`` (runs by name, per job kind), ``api`` (the
JSON operations, table-driven), ``links`` (where outputs live, presigning, checking),
``serving`` and ``handler`` (the HTTP side), ``faults`` (link/API faults and quotas),
``recording`` (the request log), ``content`` (fixture and generated output bytes),
``other_host`` (a second server that must never be contacted).
"""

from local_aws.transcribe.content import Content, GeneratedContent
from local_aws.transcribe.double import FakeTranscribe
from local_aws.transcribe.faults import DEFAULT_RATE_LIMITS, ApiFaultKind, Fault
from local_aws.transcribe.model import (
    FAILURE_REASONS,
    JOB_NOT_FOUND_MESSAGE,
    OUTPUTS,
    JobStatus,
    LinkStyle,
    OutputName,
    Redaction,
)
from local_aws.transcribe.other_host import OtherHostServer
from local_aws.transcribe.recording import RecordedRequest

__all__ = [
    "DEFAULT_RATE_LIMITS",
    "FAILURE_REASONS",
    "JOB_NOT_FOUND_MESSAGE",
    "OUTPUTS",
    "ApiFaultKind",
    "Content",
    "FakeTranscribe",
    "Fault",
    "GeneratedContent",
    "JobStatus",
    "LinkStyle",
    "OtherHostServer",
    "OutputName",
    "RecordedRequest",
    "Redaction",
]

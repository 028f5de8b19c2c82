"""Wire-level helpers for the local AWS's own tests: raw API calls, shapes, S3 errors."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import parse_qs, urlsplit

import botocore.session
import urllib3
from botocore.model import ListShape, MapShape, Shape, StructureShape

from local_aws.transcribe import FakeTranscribe

TRANSCRIBE_MODEL = botocore.session.get_session().get_service_model("transcribe")
QUERY_ORDER = [
    "X-Amz-Security-Token",
    "X-Amz-Algorithm",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
    "X-Amz-Credential",
    "X-Amz-Signature",
]


def raw_api(
    http: urllib3.PoolManager, fake: FakeTranscribe, op: str, body: dict[str, Any]
) -> tuple[int, dict[str, Any], urllib3.BaseHTTPResponse]:
    """One API call on the wire, to see exactly what botocore would parse."""
    response = http.request(
        "POST",
        fake.endpoint_url + "/",
        body=json.dumps(body).encode(),
        headers={
            "X-Amz-Target": f"Transcribe.{op}",
            "Content-Type": "application/x-amz-json-1.1",
            "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
            "transcribe/aws4_request, SignedHeaders=host, Signature=00",
        },
    )
    return response.status, json.loads(response.data or b"{}"), response


def assert_matches_shape(value: Any, shape: Shape | None, where: str = "$") -> None:
    """Every key and scalar type in ``value`` exists in the botocore model ``shape``."""
    assert shape is not None
    if value is None:  # links come back null for opted-out accounts (the service does it)
        return
    if isinstance(shape, StructureShape):
        assert isinstance(value, dict), where
        for key, member_value in value.items():
            assert key in shape.members, f"{where}.{key} is not in {shape.name}"
            assert_matches_shape(member_value, shape.members[key], f"{where}.{key}")
    elif isinstance(shape, ListShape):
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            assert_matches_shape(item, shape.member, f"{where}[{i}]")
    elif isinstance(shape, MapShape):
        assert isinstance(value, dict), where
        for key, item in value.items():
            assert_matches_shape(item, shape.value, f"{where}.{key}")
    else:
        expected: dict[str, tuple[type, ...]] = {
            "string": (str,),
            "integer": (int,),
            "long": (int,),
            "float": (float, int),
            "double": (float, int),
            "boolean": (bool,),
            "timestamp": (float, int),
        }
        assert isinstance(value, expected[shape.type_name]), f"{where}: {value!r}"
        if "enum" in shape.metadata:
            assert value in shape.metadata["enum"], f"{where}: {value!r} not in enum"


def xml_error(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


def link_params(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def transcript_uri(transcribe: Any, name: str) -> str:
    job = transcribe.get_transcription_job(TranscriptionJobName=name)["TranscriptionJob"]
    uri: str = job["Transcript"]["TranscriptFileUri"]
    return uri

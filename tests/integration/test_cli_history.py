"""`transcribe-archiver history` over real HTTP against moto, with more than 1 MB of history.

The CLI talks to moto through a recording proxy, so the test sees every DynamoDB request
that actually left the process: answers must come from Query alone, page after page.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

import pytest
from archiver import contract
from archiver.cli import main
from archiver.logic.history import HistoryRepository
from archiver.store.record import to_dynamo
from archiver.timefmt import iso_ms

from local_aws.embedded_aws import EmbeddedAWS
from local_aws.http_server import BoundedThreadingHTTPServer, LocalServer

RUNS = 1500
PADDING = 900  # bytes per item, so that the history is > 1 MB and every answer pages
T0 = datetime(2026, 11, 1, tzinfo=UTC)
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class _Forward(BaseHTTPRequestHandler):
    """Passes each request to moto unchanged and notes its DynamoDB operation."""

    protocol_version = "HTTP/1.1"
    timeout = 10
    server: _ProxyServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        if target.startswith("DynamoDB_"):
            self.server.operations.append(target.split(".", 1)[1])
        upstream = http.client.HTTPConnection(self.server.upstream, timeout=30)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            upstream.request("POST", self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
        finally:
            upstream.close()
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in _HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return


class _ProxyServer(BoundedThreadingHTTPServer):
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.operations: list[str] = []
        super().__init__(_Forward)


class _Recorder(LocalServer[_ProxyServer]):
    thread_name = "dynamodb-recorder"

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self._upstream = upstream

    def _make_server(self) -> _ProxyServer:
        return _ProxyServer(self._upstream)


@pytest.fixture
def proxy(embedded_aws: EmbeddedAWS) -> Iterator[_ProxyServer]:
    """``http://127.0.0.1:<port>`` in front of moto, recording DynamoDB operations."""
    with _Recorder(str(urlsplit(embedded_aws.endpoint_url).netloc)) as recorder:
        server = recorder.server
        yield server
    assert server.handler_errors == []


def endpoint(proxy: _ProxyServer) -> str:
    return f"http://127.0.0.1:{proxy.server_address[1]}"


def completed_at(i: int) -> str:
    return iso_ms(T0 + timedelta(minutes=i))


def status_of(i: int) -> str:
    return "FAILED" if i % 5 == 0 else "COMPLETED"


def item(i: int) -> dict[str, Any]:
    done = T0 + timedelta(minutes=i)
    run: dict[str, Any] = {
        "JobName": f"call-{i:05d}",
        "CreatedAt": iso_ms(done - timedelta(seconds=30)),
        "JobStatus": status_of(i),
        "ArchiveStatus": "ARCHIVED",
        "CompletedAt": iso_ms(done),
        "LanguageCode": "de-DE" if i % 2 else "en-US",
        "MediaSampleRateHertz": 44100,
        "ArchiveUri": f"s3://archive/transcripts/call-{i:05d}/{done:%Y%m%dT%H%M%SZ}/",
        "Tags": {"Department": "Sales" if i % 3 == 0 else "Support"},
        "MediaFileUri": f"s3://media/{'x' * PADDING}/call-{i:05d}.mp3",
    }
    if status_of(i) == "FAILED":
        run["FailureReason"] = "Unsupported media format"
    return run


@pytest.fixture(scope="module")
def big_history(embedded_aws: EmbeddedAWS) -> Iterator[str]:
    """A table of RUNS runs (~1.4 MB), written once for the module with BatchWriteItem."""
    table = f"history-{uuid.uuid4().hex[:12]}"
    db = embedded_aws.client("dynamodb")
    db.create_table(**contract.create_table_kwargs(table))
    requests = [{"PutRequest": {"Item": to_dynamo(item(i))}} for i in range(RUNS)]
    for start in range(0, len(requests), 25):
        pending: dict[str, Any] = {table: requests[start : start + 25]}
        while pending:
            pending = db.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    yield table
    db.delete_table(TableName=table)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, embedded_aws: EmbeddedAWS, big_history: str) -> str:
    for key, value in embedded_aws.env(JOBS_TABLE=big_history).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    return big_history


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    code = main([*argv, "--output", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    runs: list[dict[str, Any]] = json.loads(captured.out)
    return runs


def test_given_more_than_1mb_of_history_when_listing_all_then_every_page_comes_newest_first(
    cli_env: str, proxy: _ProxyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = run_json(capsys, "history", "list", "--endpoint-url", endpoint(proxy))

    assert len(runs) == RUNS
    assert [r["JobName"] for r in runs] == [f"call-{i:05d}" for i in reversed(range(RUNS))]
    assert runs[0] == item(RUNS - 1)
    assert set(proxy.operations) == {"Query"}
    # COMPLETED alone is > 1 MB: its partition took more than one page.
    assert len(proxy.operations) >= 3


def test_given_a_limit_then_only_the_newest_runs_are_read_and_returned(
    cli_env: str, proxy: _ProxyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = run_json(capsys, "history", "list", "--limit", "7", "--endpoint-url", endpoint(proxy))

    assert [r["JobName"] for r in runs] == [f"call-{i:05d}" for i in range(RUNS - 1, RUNS - 8, -1)]
    assert proxy.operations == ["Query", "Query"]


def test_given_failed_runs_of_a_window_then_exactly_those_come_back(
    cli_env: str, proxy: _ProxyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = run_json(
        capsys,
        "history",
        "list",
        "--status",
        "FAILED",
        "--since",
        completed_at(100),
        "--until",
        completed_at(200),
        "--endpoint-url",
        endpoint(proxy),
    )

    expected = [f"call-{i:05d}" for i in range(200, 99, -1) if status_of(i) == "FAILED"]
    assert [r["JobName"] for r in runs] == expected
    assert all(r["FailureReason"] == "Unsupported media format" for r in runs)
    assert set(proxy.operations) == {"Query"}


def test_given_language_and_tag_then_the_filtered_pages_still_cover_the_whole_index(
    cli_env: str, proxy: _ProxyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = run_json(
        capsys,
        "history",
        "list",
        "--language",
        "de-DE",
        "--tag",
        "Department=Sales",
        "--endpoint-url",
        endpoint(proxy),
    )

    expected = [f"call-{i:05d}" for i in reversed(range(RUNS)) if i % 2 and i % 3 == 0]
    assert [r["JobName"] for r in runs] == expected
    assert set(proxy.operations) == {"Query"}


def test_given_csv_of_everything_then_one_row_per_run_after_the_header(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "list", "--output", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == RUNS
    assert rows[0]["JobName"] == f"call-{RUNS - 1:05d}"


def test_given_a_job_when_shown_then_its_run_is_read_with_one_query(
    cli_env: str, proxy: _ProxyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = run_json(capsys, "history", "show", "call-00042", "--endpoint-url", endpoint(proxy))

    assert runs == [item(42)]
    assert proxy.operations == ["Query"]


def test_given_the_python_api_on_a_client_then_only_query_reaches_dynamodb(
    embedded_aws: EmbeddedAWS, big_history: str
) -> None:
    client = embedded_aws.client("dynamodb")
    operations: list[str] = []
    client.meta.events.register(
        "before-call.dynamodb", lambda model, **_: operations.append(model.name)
    )
    repository = HistoryRepository(big_history, dynamodb_client=client)

    newest_sales = list(repository.list_runs(tag=("Department", "Sales"), limit=5))
    every_run = sum(1 for _ in repository.list_runs())

    assert [r["JobName"] for r in newest_sales] == [
        f"call-{i:05d}" for i in reversed(range(RUNS)) if i % 3 == 0
    ][:5]
    assert every_run == RUNS
    assert repository.latest_run("call-00007") == item(7)
    assert set(operations) == {"Query"}

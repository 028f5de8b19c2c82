"""The embedded AWS: DynamoDB's guarantee the archiver's leases rely on, and a clean stop."""

from __future__ import annotations

import socket
import threading
import uuid

import pytest
from archiver import contract
from archiver.store.history_table import Claim, HistoryTable
from archiver.store.record import HistoryRecord

from local_aws.embedded_aws import EmbeddedAWS

pytestmark = pytest.mark.integration

CREATED = "2026-11-23T10:15:02.123Z"


def test_given_many_concurrent_claims_on_one_run_when_made_then_exactly_one_wins(
    embedded_aws: EmbeddedAWS,
) -> None:
    table_name = f"claims-{uuid.uuid4().hex[:8]}"
    embedded_aws.client("dynamodb").create_table(**contract.create_table_kwargs(table_name))
    outcomes: list[Claim] = []
    barrier = threading.Barrier(16)

    def claim(owner: str) -> None:
        table = HistoryTable(embedded_aws.client("dynamodb"), table_name)
        barrier.wait()
        outcomes.append(
            table.claim(
                HistoryRecord(job_name="job", created_at=CREATED), owner, now=1, lease_until=9
            )[0]
        )

    for _round in range(5):
        outcomes.clear()
        table = HistoryTable(embedded_aws.client("dynamodb"), table_name)
        threads = [threading.Thread(target=claim, args=(f"o{i}",)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert outcomes.count(Claim.CLAIMED) == 1
        assert outcomes.count(Claim.BUSY) == 15
        embedded_aws.client("dynamodb").delete_item(
            TableName=table_name,
            Key={"JobName": {"S": "job"}, "CreatedAt": {"S": CREATED}},
        )
        assert table.runs("job") == []


def test_given_an_embedded_aws_when_stopped_then_its_port_and_threads_are_gone() -> None:
    before = set(threading.enumerate())
    with EmbeddedAWS() as aws:
        port = aws.port
        aws.create_archive("lifecycle-bucket", "lifecycle-table")
        aws.client("s3").head_bucket(Bucket="lifecycle-bucket")
        table = aws.client("dynamodb").describe_table(TableName="lifecycle-table")["Table"]
        env = aws.env(EXTRA=1)

    assert {g["IndexName"] for g in table["GlobalSecondaryIndexes"]} == set(contract.INDEXES)
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["JobName", "CreatedAt"]
    assert env["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    assert env["AWS_ACCESS_KEY_ID"] == env["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert env["EXTRA"] == "1"
    assert {t for t in threading.enumerate() if t.is_alive()} - before == set()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)

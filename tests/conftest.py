"""Fixtures over the local AWS, for the integration suite and local_aws's own tests: one
embedded AWS per session, a Transcribe double per test, a fresh archive per test.

The reusable pieces live in ``local_aws`` (no pytest there) so the demo and the
benchmarks build exactly the same environment. Nothing starts unless a test asks for it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Final, TypeVar

import pytest

from local_aws.archive_env import ArchiveEnv, drop_archive, new_archive
from local_aws.embedded_aws import EmbeddedAWS
from local_aws.transcribe import FakeTranscribe

FakeT = TypeVar("FakeT", bound=FakeTranscribe)


#: The longest test files (minutes each): collected first, so that under `make test`
#: (pytest-xdist, one file at a time per worker, in collection order) each worker starts on
#: one of them and the workers end together, rather than one picking them up at the end.
LONGEST_FIRST: Final = (
    "tests/integration/test_burst.py",
    "tests/integration/test_chaos.py",
    "tests/integration/test_model.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.partition("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its order


@pytest.fixture(autouse=True)
def _no_terminal_size_from_the_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-xdist's workers set COLUMNS=80 and LINES=24, which the CLI (rich) takes for a
    terminal's size; every test sees what a pipe or a CI log gives instead, as it does in a
    plain pytest run. A test that wants a width sets COLUMNS itself."""
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)


@pytest.fixture(scope="session")
def embedded_aws() -> Iterator[EmbeddedAWS]:
    """moto on 127.0.0.1, started once: its state is process-wide anyway."""
    with EmbeddedAWS() as aws:
        yield aws


@contextlib.contextmanager
def serving(fake: FakeT) -> Iterator[FakeT]:
    """Run a Transcribe double for one test; fail the test if the double itself crashed."""
    with fake:
        yield fake
        errors = fake.handler_errors
    # An exception inside the double is a bug in the double, never a finding about the
    # archiver: fail loudly instead of letting a test pass on a half-served response.
    if errors:
        pytest.fail("the Transcribe double crashed:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def fake_transcribe(embedded_aws: EmbeddedAWS) -> Iterator[FakeTranscribe]:
    """A fresh Transcribe double; team-bucket jobs write into the session's moto S3.

    A test module may override this fixture with a subclass; ``archive_env`` follows it.
    """
    double = FakeTranscribe(s3_client=embedded_aws.client("s3"), region=embedded_aws.region)
    with serving(double) as fake:
        yield fake


@pytest.fixture
def archive_env(
    monkeypatch: pytest.MonkeyPatch,
    embedded_aws: EmbeddedAWS,
    fake_transcribe: FakeTranscribe,
) -> Iterator[ArchiveEnv]:
    """A new bucket + table, and os.environ set to the archiver's contract variables."""
    archive = new_archive(embedded_aws, fake_transcribe)
    # Nothing from the developer's shell may redirect boto3 away from the embedded AWS.
    for key in list(os.environ):
        if key.startswith("AWS_ENDPOINT_URL_") or key in {"AWS_PROFILE", "AWS_SESSION_TOKEN"}:
            monkeypatch.delenv(key)
    for key, value in archive.environ.items():
        monkeypatch.setenv(key, value)
    yield archive
    drop_archive(embedded_aws, archive)

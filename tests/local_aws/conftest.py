"""Fixtures of the local AWS's own tests; the double and the embedded AWS come from
``tests/conftest.py``.

The Transcribe double is only useful if it behaves like the service: these tests drive it
through real boto3 clients and real HTTP (urllib3, botocore's own HTTP stack) and check
the wire behaviour the archiver depends on.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

from local_aws.transcribe import FakeTranscribe


@pytest.fixture
def http() -> Iterator[urllib3.PoolManager]:
    """A plain client that neither retries nor follows redirects, like a careful fetcher."""
    pool = urllib3.PoolManager(retries=False, maxsize=64, timeout=urllib3.Timeout(10))
    yield pool
    pool.clear()


@pytest.fixture
def transcribe(fake_transcribe: FakeTranscribe) -> Any:
    return fake_transcribe.client()

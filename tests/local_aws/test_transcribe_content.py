"""What the double serves: the real fixtures, unchanged since they were copied."""

from __future__ import annotations

import hashlib
import re

import pytest

from local_aws.transcribe.content import FIXTURES_DIR

pytestmark = pytest.mark.integration


def test_given_the_copied_fixtures_when_hashed_then_they_match_sources_md() -> None:
    sources = (FIXTURES_DIR / "SOURCES.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([^`]+)` \|.*\| (\d+) \| ([0-9a-f]{16}) \|$", sources, re.MULTILINE)

    assert len(rows) >= 17
    for name, size, sha_prefix in rows:
        data = (FIXTURES_DIR / name).read_bytes()
        assert len(data) == int(size), name
        assert hashlib.sha256(data).hexdigest()[:16] == sha_prefix, name

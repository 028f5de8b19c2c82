"""`transcribe-archiver demo` without the local_aws package: a sentence, not a traceback."""

from __future__ import annotations

import sys

import pytest
from archiver.cli import main


def test_given_no_local_aws_package_when_the_demo_runs_then_it_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # None in sys.modules makes the import fail as for a package that is not installed.
    monkeypatch.setitem(sys.modules, "local_aws.demo", None)

    status = main(["demo"])

    assert status == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "the demo needs the local_aws package from a source checkout: pip install -e ." in err

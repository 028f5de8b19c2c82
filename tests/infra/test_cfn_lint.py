"""cfn-lint accepts every synthesized template."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.infra.conftest import Synth

pytestmark = pytest.mark.infra


def _cfn_lint() -> str:
    found = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which(
        "cfn-lint"
    )
    assert found, "cfn-lint is not installed (requirements-dev.txt)"
    return found


def test_given_all_configurations_then_cfn_lint_reports_nothing(
    default: Synth, adopted: Synth, hardened: Synth, tmp_path: Path
) -> None:
    templates = []
    for name, synth in {"default": default, "adopted": adopted, "hardened": hardened}.items():
        path = tmp_path / f"{name}.template.json"
        path.write_text(json.dumps(synth.json, indent=1), encoding="utf-8")
        templates.append(str(path))

    result = subprocess.run(
        [_cfn_lint(), *templates], capture_output=True, text=True, timeout=300, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr

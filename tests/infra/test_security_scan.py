"""checkov (CloudFormation) and cfn-lint with the serverless rules on the synthesized templates:
every finding is fixed, or suppressed on its resource with a reason the template carries.

Both scanners run once for the session over every configuration, plus a copy of the default
template with the suppressions taken out: that copy must show exactly the findings the
suppressions hide, so a suppression nothing needs, or a scanner that found nothing because it
did not run, fails here too.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT, Synth

pytestmark = pytest.mark.infra

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIGURATIONS = ("default", "adopted", "hardened")
STRIPPED = "default-unsuppressed"


def _stripped(template: dict[str, Any]) -> dict[str, Any]:
    """The template without the scanners' suppressions."""
    bare = copy.deepcopy(template)
    for resource in bare["Resources"].values():
        metadata = resource.get("Metadata", {})
        metadata.pop("checkov", None)
        metadata.pop("cfn-lint", None)
    return bare


@dataclass(frozen=True)
class Templates:
    paths: dict[str, Path]
    json: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def templates(
    default: Synth, adopted: Synth, hardened: Synth, tmp_path_factory: pytest.TempPathFactory
) -> Templates:
    folder = tmp_path_factory.mktemp("scan")
    synths = (default, adopted, hardened)
    documents = {name: synth.json for name, synth in zip(CONFIGURATIONS, synths, strict=True)}
    documents[STRIPPED] = _stripped(default.json)
    paths = {}
    for name, document in documents.items():
        paths[name] = folder / f"{name}.template.json"
        paths[name].write_text(json.dumps(document, indent=1), encoding="utf-8")
    return Templates(paths, documents)


def _suppressions(template: dict[str, Any], tool: str) -> Iterator[tuple[str, str, str]]:
    """(logical ID, check ID, reason) of every suppression of ``tool`` in the template."""
    for logical_id, resource in template["Resources"].items():
        metadata = resource.get("Metadata", {})
        if tool == "checkov":
            for skip in metadata.get("checkov", {}).get("skip", []):
                yield logical_id, skip["id"], skip.get("comment", "")
        else:
            cfn_lint = metadata.get("cfn-lint", {})
            reasons = cfn_lint.get("reasons", {})
            for check in cfn_lint.get("config", {}).get("ignore_checks", []):
                yield logical_id, check, reasons.get(check, "")


# -- checkov ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkov(templates: Templates) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """checkov's failed and skipped checks per template, from one run over all of them."""
    assert CHECKOV.exists(), "checkov is not installed: `make test` installs it (.venv-checkov)"
    files = [arg for path in templates.paths.values() for arg in ("-f", str(path))]
    result = subprocess.run(
        [
            str(CHECKOV),
            "--framework",
            "cloudformation",
            # Offline: no guideline download from the vendor, no version check.
            "--skip-download",
            "--compact",
            "--output",
            "json",
            *files,
        ],
        env={**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode in {0, 1}, result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    by_template: dict[str, dict[str, list[dict[str, Any]]]] = {
        name: {"failed": [], "skipped": [], "passed": []} for name in templates.paths
    }
    names = {path.name: name for name, path in templates.paths.items()}
    for report in reports:
        for outcome in ("failed", "skipped", "passed"):
            # checkov leaves a list out of the report when it is empty.
            for check in report["results"].get(f"{outcome}_checks", []):
                by_template[names[Path(check["file_path"]).name]][outcome].append(check)
    return by_template


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_given_each_configuration_then_checkov_finds_nothing_unexplained(
    checkov: dict[str, dict[str, list[dict[str, Any]]]], configuration: str
) -> None:
    found = checkov[configuration]

    assert found["passed"], "checkov checked nothing"
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in found["failed"]]
    assert failed == []
    for check in found["skipped"]:
        assert len(check["check_result"].get("suppress_comment", "")) > 20, check["check_id"]


def test_given_the_suppressions_taken_out_then_checkov_finds_exactly_what_they_hide(
    checkov: dict[str, dict[str, list[dict[str, Any]]]], templates: Templates
) -> None:
    suppressed = {
        (logical_id, check)
        for logical_id, check, _ in _suppressions(templates.json["default"], "checkov")
    }
    found = {(c["resource"].split(".", 1)[1], c["check_id"]) for c in checkov[STRIPPED]["failed"]}

    assert suppressed, "the default template suppresses nothing: the scan would be vacuous"
    assert found == suppressed


# -- cfn-lint with the serverless rules ------------------------------------------------------


def _cfn_lint(*templates: Path) -> subprocess.CompletedProcess[str]:
    found = shutil.which("cfn-lint", path=str(Path(sys.executable).parent))
    assert found, "cfn-lint is not installed (requirements-dev.txt)"
    return subprocess.run(
        # "--" ends -a's list of rule modules before the templates.
        [found, "--format", "json", "-a", "cfn_lint_serverless.rules", "--", *map(str, templates)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_given_every_configuration_then_cfn_lint_serverless_finds_nothing(
    templates: Templates,
) -> None:
    result = _cfn_lint(*(templates.paths[name] for name in CONFIGURATIONS))

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout or "[]") == []


def test_given_the_suppressions_taken_out_then_cfn_lint_finds_exactly_what_they_hide(
    templates: Templates,
) -> None:
    result = _cfn_lint(templates.paths[STRIPPED])
    found = {
        (match["Location"]["Path"][1], match["Rule"]["Id"]) for match in json.loads(result.stdout)
    }
    suppressed = {
        (logical_id, check)
        for logical_id, check, _ in _suppressions(templates.json["default"], "cfn-lint")
    }

    assert suppressed, "the default template suppresses nothing: the lint would be vacuous"
    # The serverless rules (ES/WS) are what the suppressions are for.
    assert {check[:2] for _, check in suppressed} <= {"ES", "WS"}
    assert found == suppressed


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
@pytest.mark.parametrize("tool", ["checkov", "cfn-lint"])
def test_given_a_suppression_then_the_template_says_why(
    templates: Templates, configuration: str, tool: str
) -> None:
    for logical_id, check, reason in _suppressions(templates.json[configuration], tool):
        assert len(reason) > 20, f"{tool} {check} on {logical_id} has no reason"

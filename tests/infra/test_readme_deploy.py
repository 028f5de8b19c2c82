"""The README's deploy path works as written: each synth command it shows is run as shown, and
each make command it shows installs what it needs first on a fresh clone.

The commands are read out of the README, so the test follows the README.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.infra.conftest import ROOT

pytestmark = pytest.mark.infra

README = ROOT / "README.md"
_ENV = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}


def readme_commands() -> list[str]:
    """Every shell command the README shows: lines of ``sh`` blocks and indented examples,
    and inline code that starts with a command, without trailing comments."""
    text = README.read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        lines += block.splitlines()
    lines += [line.strip() for line in text.splitlines() if line.startswith("    ")]
    lines += re.findall(r"`([^`\n]+)`", text)
    commands = []
    for line in lines:
        command = line.split(" # ", 1)[0].split("  #", 1)[0].strip()
        if re.match(r"^(make|npx|cdk|npm)(\s|$)", command) and command not in commands:
            commands.append(command)
    return commands


def synth_commands() -> list[str]:
    return [c for c in readme_commands() if re.search(r"\bsynth\b", c)]


def test_the_readme_shows_its_deploy_commands_through_make() -> None:
    commands = readme_commands()

    assert "make synth" in commands
    assert "make deploy" in commands
    assert any(c.startswith("make bootstrap ARGS=aws://") for c in commands)
    # npx on a clone without node_modules fetches a package named "cdk", not the CLI.
    assert [c for c in commands if c.startswith(("npx", "cdk "))] == []


@pytest.mark.parametrize("command", synth_commands())
def test_given_a_synth_command_of_the_readme_when_run_as_shown_then_it_synthesizes(
    command: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        # Only where the cloud assembly goes differs from a user's run.
        env={**_ENV, "CDK_OUT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = json.loads((tmp_path / "TranscribeArchiver.template.json").read_text("utf-8"))
    rules = [r for r in template["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    detail_types = {
        tuple(r["Properties"]["EventPattern"]["detail-type"])
        for r in rules
        if "EventPattern" in r["Properties"]
    }
    # The context the command gives is the context the template was built with.
    kinds = re.search(r"jobKinds=([A-Z_,]+)", command)
    expected = kinds.group(1).split(",") if kinds else ["TRANSCRIPTION", "CALL_ANALYTICS"]
    has_call_analytics_rule = ("Call Analytics Job State Change",) in detail_types
    assert has_call_analytics_rule == ("CALL_ANALYTICS" in expected)
    # app.py runs AwsSolutionsChecks on every synth and writes its report.
    report = (tmp_path / "AwsSolutions--TranscribeArchiver-NagReport.csv").read_text("utf-8")
    assert '"Non-Compliant"' not in report


def test_given_a_fresh_clone_then_each_make_command_of_the_readme_installs_first(
    tmp_path: Path,
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120)
    make_commands = [c for c in readme_commands() if c.startswith("make ")]
    assert make_commands

    for command in make_commands:
        # What make would run on the clone, without running it.
        result = subprocess.run(
            ["make", "-n", *shlex.split(command)[1:]],
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, f"{command}: {result.stderr}"
        steps = result.stdout.splitlines()
        cdk = [i for i, step in enumerate(steps) if step.startswith("node_modules/.bin/cdk")]
        if cdk:
            npm = [i for i, step in enumerate(steps) if step.startswith("npm ci")]
            venv = [i for i, step in enumerate(steps) if "pip install" in step]
            assert npm and npm[0] < cdk[0], f"{command} runs the CDK CLI before npm ci"
            assert venv and venv[0] < cdk[0], f"{command} runs the app before the venv"

#!/usr/bin/env python3
"""CDK app entry point: `npx cdk synth` / `npx cdk deploy` run this (see cdk.json).

Settings come from CDK context (cdk.json "context", or `-c key=value`); see README.
cdk-nag's AwsSolutions checks run on every synth, so findings show up before a deploy.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.config import ArchiverConfig, ConfigError, cdk_json_context
from infra.stack import ArchiverStack

ROOT = Path(__file__).resolve().parent


def main() -> None:
    # Context given by the CDK CLI (cdk.json, -c) takes precedence over this; the explicit
    # load makes a plain `python app.py` synthesize the same template as `cdk synth`.
    app = cdk.App(
        context=cdk_json_context(ROOT / "cdk.json"),
        outdir=None if os.environ.get("CDK_OUTDIR") else str(ROOT / "cdk.out"),
    )
    try:
        config = ArchiverConfig.from_context(app.node)
    except ConfigError as error:
        # One line naming the key beats a jsii traceback for a typo in cdk.json.
        sys.exit(f"Invalid configuration: {error}")
    ArchiverStack(app, config.stack_name, config=config)
    cdk.Aspects.of(app).add(AwsSolutionsChecks(verbose=True))
    app.synth()


if __name__ == "__main__":
    main()

"""``demo``: the whole pipeline on an embedded AWS, no account needed."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from rich.console import Console

from archiver.cli import common


def add_parser(commands: Any, _options: argparse.ArgumentParser) -> None:
    # Not ``parents=[_options]``: the demo starts its own embedded AWS and takes none of the
    # table, bucket, stack, region and endpoint options, so its help does not offer them.
    demo = commands.add_parser(
        "demo",
        help="the whole pipeline on an embedded AWS, no account needed",
        description=(
            "The whole pipeline on an embedded AWS (moto and a local Transcribe from the "
            "local_aws package of a source checkout)."
        ),
    )
    demo.set_defaults(run=run, parser=demo)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    # Imported here, by name: local_aws is a development package (moto, a local Transcribe)
    # that a deployed function or a bare install of the CLI does not carry.
    try:
        local_demo = importlib.import_module("local_aws.demo")
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.partition(".")[0] != "local_aws":
            raise  # something local_aws needs is missing: say exactly that
        raise common.RunError(
            "the demo needs the local_aws package from a source checkout: pip install -e ."
        ) from None
    return int(local_demo.main())

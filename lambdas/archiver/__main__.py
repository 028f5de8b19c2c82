"""``python -m archiver``: the command-line tool."""

from archiver.cli import main

raise SystemExit(main())

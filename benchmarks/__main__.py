"""``python -m benchmarks`` (``make bench``): run the suite from the repository root.

``archiver`` and ``local_aws`` come from the project's install (``make`` runs
``pip install -e .``); ``benchmarks`` itself from the current directory.
"""

from __future__ import annotations

import sys

from benchmarks.suite import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m benchmarks`` (``make bench``): run the suite from the repository root.

pytest puts ``lambdas/`` and the repository root on ``sys.path`` (pyproject); a plain
``python -m`` does not, so this does it before importing anything of the project.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "lambdas", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from benchmarks.suite import main  # noqa: E402 - needs the paths above

if __name__ == "__main__":
    sys.exit(main())

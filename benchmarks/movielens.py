"""Where the benchmarks find MovieLens ml-latest-small: the same resolution as the tests' (tests/conftest.py).

``$PERTINENT_TEST_DATA`` names the folder (a relative path is taken from the repository root); the default is
``../shared/datasets/ml-latest-small`` next to the repository. The data is read where it lies, never copied.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MOVIELENS = REPO / os.environ.get("PERTINENT_TEST_DATA", "../shared/datasets/ml-latest-small")

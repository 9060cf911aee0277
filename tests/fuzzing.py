"""How many examples each property test runs: its full count in CI, a fifth locally.

`.ci/run` sets LMPREP_HYPOTHESIS_PROFILE=ci; without it the `dev` profile applies, so that the
whole suite stays quick on a laptop while CI keeps every case. Both profiles are registered
in conftest.py; a fuzz test states its CI count through ``examples(N)``.
"""

from __future__ import annotations

import os

PROFILE_VARIABLE = "LMPREP_HYPOTHESIS_PROFILE"
PROFILE = os.environ.get(PROFILE_VARIABLE) or "dev"
#: Locally, each fuzz test runs this share of its CI examples (at least MIN_EXAMPLES).
DEV_SHARE = 5
MIN_EXAMPLES = 25


def examples(ci_count: int) -> int:
    """``ci_count`` in CI; a fifth of it (at least MIN_EXAMPLES) under the dev profile."""
    if PROFILE == "ci":
        return ci_count
    return min(ci_count, max(MIN_EXAMPLES, ci_count // DEV_SHARE))

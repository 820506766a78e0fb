"""Hypothesis profiles for the fuzz suite: bounded everywhere, reproducible in CI.

``CI=true`` loads the ``ci`` profile (``derandomize=True``: the same examples on every
run, so a red build is a real, repeatable failure); ``SAMVAD_FUZZ_PROFILE=deep`` explores
far more examples locally.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_COMMON = {
    "deadline": None,  # a slow example is not a failure; time is bounded by max_examples
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                              HealthCheck.filter_too_much, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("dev", max_examples=100, **_COMMON)
settings.register_profile("ci", max_examples=100, derandomize=True, database=None, **_COMMON)
settings.register_profile("deep", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("SAMVAD_FUZZ_PROFILE")
                      or ("ci" if os.environ.get("CI") else "dev"))

# Schemathesis runs each API operation without shrinking (a failure is reported as found).
NO_SHRINK = [Phase.explicit, Phase.generate]

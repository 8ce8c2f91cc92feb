"""Helpers for the compiler tests: compile a graph to C and run it on rows."""

from collections.abc import Callable

import numpy as np
import pytest

from edgeops.compiler import int8_reference, reference
from edgeops.compiler.ir import Graph
from edgeops.compiler.verify import VerifyReport, verify

Check = Callable[..., VerifyReport]


def check_compiled(graph: Graph, x: np.ndarray, **kwargs: object) -> VerifyReport:
    """Compile and run `graph` on `x`; assert int8 graphs are bit-exact with the int8 reference
    and float graphs within 1e-5 (relative to the largest activation) of the float reference."""
    report = verify(graph, x, measure=False, **kwargs)  # type: ignore[arg-type]
    if report.int8_mismatches is not None:
        assert report.int8_mismatches == 0
    elif report.int8:  # float ops after the int8 part: float tolerance on the float tail
        expected = int8_reference.run(graph, x)
        assert report.max_abs_error <= 1e-5 * max(1.0, float(np.abs(expected).max()))
    else:
        # float32 rounding grows with the magnitudes summed on the way, not just the output's
        magnitude = max(float(np.abs(v).max()) for v in reference.run_all(graph, x).values())
        assert report.max_abs_error <= 1e-5 * max(1.0, magnitude)
    return report


@pytest.fixture
def compiled() -> Check:
    return check_compiled

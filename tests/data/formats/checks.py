"""The property every parser keeps: it returns a valid canonical sample or raises InvalidSample
with a message, and nothing else."""

from collections.abc import Callable
from typing import Any

import numpy as np

from edgeops.data.formats import ParsedSample
from edgeops.errors import InvalidSample


def check_parses_or_rejects(
    parse: Callable[..., ParsedSample], data: bytes, **options: Any
) -> None:
    try:
        sample = parse(data, **options)
    except InvalidSample as exc:
        assert str(exc), "a rejection must say what is wrong"
        return
    assert sample.values.size > 0
    if sample.kind == "image":
        assert sample.values.dtype == np.uint8 and sample.values.shape[2] in (1, 3)
    else:
        assert sample.values.dtype == np.float32 and sample.values.ndim == 2
        assert np.isfinite(sample.values).all()

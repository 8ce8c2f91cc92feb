"""A sample's content hash is the SHA-256 of its canonical bytes: they must stay exactly what
`np.save` writes, or every stored hash (and dataset version) would change meaning."""

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgeops.data.samples import canonical_bytes
from edgeops.errors import InvalidInput


def _saved(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(values), allow_pickle=False)
    return buffer.getvalue()


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from(["<f4", "<f8", ">f4", "<i2", "|u1", "<i8"]),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=40),
    ),
    st.booleans(),
)
def test_canonical_bytes_are_np_save_bytes(values: np.ndarray, transposed: bool) -> None:
    values = values.T if transposed else values  # not C-contiguous: made so first
    assert canonical_bytes(values) == _saved(values)


def test_the_largest_header_numpy_allows_is_still_np_saves() -> None:
    values = np.zeros((1,) * 64, dtype=np.float32)  # numpy's limit on dimensions
    assert canonical_bytes(values) == _saved(values)


def test_object_arrays_are_refused() -> None:
    with pytest.raises(InvalidInput):
        canonical_bytes(np.array([object()]))

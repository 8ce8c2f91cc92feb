"""The arena plan never lets two live tensors share a byte, and reuses space."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeops.compiler.ir import Graph, Op, Tensor
from edgeops.compiler.memory import ALIGNMENT, Buffer, lifetimes, place, plan


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    """Random DAGs of elementwise ops over 1-D tensors: each op reads one or two earlier
    activations (an `add`) or reshapes one, so lifetimes interleave."""
    sizes = draw(st.lists(st.integers(1, 300), min_size=1, max_size=14))
    tensors = {"input": Tensor("input", (draw(st.integers(1, 300)),))}
    names = ["input"]
    ops: list[Op] = []
    for index, size in enumerate(sizes):
        name = f"t{index}"
        first = draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["relu", "add", "reshape"]))
        if kind == "reshape":
            tensors[name] = Tensor(name, (tensors[first].shape[0], 1))
            ops.append(Op("reshape", [first], [name], {"shape": tensors[name].shape}))
        elif kind == "add":
            tensors[name] = Tensor(name, (size,), draw(st.sampled_from(["float32", "int8"])))
            ops.append(Op("add", [first, draw(st.sampled_from(names))], [name]))
        else:
            tensors[name] = Tensor(name, (size,))
            ops.append(Op("relu", [first], [name]))
        names.append(name)
    outputs = [names[-1]]
    return Graph(["input"], outputs, tensors, ops, "regression", [])


@settings(max_examples=300, deadline=None)
@given(graph=graphs())
def test_live_tensors_never_overlap(graph: Graph) -> None:
    memory = plan(graph)
    buffers = lifetimes(graph)
    for i, a in enumerate(buffers):
        start_a = memory.offsets[a.name]
        assert start_a % ALIGNMENT == 0
        assert start_a + a.size <= memory.arena_bytes
        for b in buffers[i + 1 :]:
            if a.overlaps_in_time(b):
                start_b = memory.offsets[b.name]
                assert start_a + a.size <= start_b or start_b + b.size <= start_a, (a, b)
    # an op never writes over what it reads (reshapes excepted: they alias their input)
    for op in graph.ops:
        if op.kind != "reshape":
            out = memory.offsets[op.outputs[0]]
            assert all(memory.offsets[name] != out for name in op.inputs)
    assert memory.arena_bytes <= memory.naive_bytes
    peak = max(
        sum(b.size for b in buffers if b.first <= t <= b.last) for t in range(-1, len(graph.ops))
    )
    assert memory.arena_bytes >= peak


def test_a_chain_reuses_memory() -> None:
    """input → a → b → c: input and b can share bytes, so can a and c."""
    tensors = {name: Tensor(name, (100,)) for name in ("input", "a", "b", "c")}
    ops = [Op("relu", ["input"], ["a"]), Op("relu", ["a"], ["b"]), Op("relu", ["b"], ["c"])]
    memory = plan(Graph(["input"], ["c"], tensors, ops))
    assert memory.naive_bytes == 4 * 400
    assert memory.arena_bytes == 2 * 400
    assert memory.offsets["input"] == memory.offsets["b"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 64), st.integers(0, 10), st.integers(0, 10)), max_size=20))
def test_place_keeps_overlapping_lifetimes_apart(spans: list[tuple[int, int, int]]) -> None:
    buffers = [Buffer(f"b{i}", size, min(a, b), max(a, b)) for i, (size, a, b) in enumerate(spans)]
    offsets = place(buffers)
    for i, a in enumerate(buffers):
        for b in buffers[i + 1 :]:
            if a.overlaps_in_time(b):
                lo_a, lo_b = offsets[a.name], offsets[b.name]
                assert lo_a + a.size <= lo_b or lo_b + b.size <= lo_a
    if len(buffers) >= 2 and not any(
        a.overlaps_in_time(b) for i, a in enumerate(buffers) for b in buffers[i + 1 :]
    ):
        assert len(set(offsets.values())) == 1  # nothing lives together: all share offset 0
    assert np.all(np.array(list(offsets.values()), dtype=int) >= 0)

"""The static memory plan: every activation gets an offset in one arena, and tensors whose
lifetimes do not overlap share bytes (greedy by size, as TFLite Micro's planner does)."""

from dataclasses import dataclass

from edgeops.compiler.ir import Graph

ALIGNMENT = 8
DTYPE_BYTES = {"float32": 4, "int8": 1, "int32": 4}
ALIASING_KINDS = frozenset({"reshape"})  # the output is the input's bytes, seen in a new shape


@dataclass(frozen=True)
class Buffer:
    """Bytes that must stay intact from op `first` (written) to op `last` (last read)."""

    name: str
    size: int
    first: int
    last: int

    def overlaps_in_time(self, other: "Buffer") -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True)
class MemoryPlan:
    """Offsets in the arena for every activation (aliases share their source's offset)."""

    offsets: dict[str, int]
    buffers: list[Buffer]
    arena_bytes: int
    naive_bytes: int  # every activation in its own space


def _aligned(size: int, alignment: int) -> int:
    return -(-size // alignment) * alignment


def tensor_bytes(graph: Graph, name: str) -> int:
    tensor = graph.tensor(name)
    count = 1
    for dim in tensor.shape:
        count *= dim
    return count * DTYPE_BYTES[tensor.dtype]


def aliases(graph: Graph) -> dict[str, str]:
    """Tensor → the tensor whose bytes it reuses (reshape outputs), followed to the root."""
    root: dict[str, str] = {}
    for op in graph.ops:
        if op.kind in ALIASING_KINDS:
            source = op.inputs[0]
            root[op.outputs[0]] = root.get(source, source)
    return root


def lifetimes(graph: Graph) -> list[Buffer]:
    """One buffer per activation that owns bytes: written by its op (the input: before op 0),
    last read by its last reader (graph outputs: after the last op)."""
    alias = aliases(graph)
    first: dict[str, int] = {name: -1 for name in graph.inputs}
    last: dict[str, int] = {}
    for index, op in enumerate(graph.ops):
        for name in op.inputs:
            if graph.tensor(name).data is None:
                owner = alias.get(name, name)
                last[owner] = index
        for name in op.outputs:
            owner = alias.get(name, name)
            first.setdefault(owner, index)
            last[owner] = max(last.get(owner, index), index)
    end = len(graph.ops)
    for name in graph.outputs:
        last[alias.get(name, name)] = end
    return [
        Buffer(name, tensor_bytes(graph, name), start, last.get(name, start))
        for name, start in first.items()
    ]


def place(buffers: list[Buffer], alignment: int = ALIGNMENT) -> dict[str, int]:
    """Offsets such that no two buffers alive at the same time share a byte: biggest first,
    each at the lowest aligned offset that fits between buffers already placed."""
    offsets: dict[str, int] = {}
    placed: list[Buffer] = []
    for buffer in sorted(buffers, key=lambda b: (-b.size, b.first, b.name)):
        size = _aligned(buffer.size, alignment)
        busy = sorted(
            (offsets[other.name], offsets[other.name] + _aligned(other.size, alignment))
            for other in placed
            if other.overlaps_in_time(buffer)
        )
        offset = 0
        for start, stop in busy:
            if offset + size <= start:
                break
            offset = max(offset, stop)
        offsets[buffer.name] = offset
        placed.append(buffer)
    return offsets


def plan(graph: Graph, alignment: int = ALIGNMENT) -> MemoryPlan:
    """The arena layout for `graph`'s activations."""
    buffers = lifetimes(graph)
    offsets = place(buffers, alignment)
    arena = max((offsets[b.name] + _aligned(b.size, alignment) for b in buffers), default=0)
    for name, source in aliases(graph).items():
        offsets[name] = offsets[source]
    naive = sum(_aligned(b.size, alignment) for b in buffers)
    return MemoryPlan(offsets, buffers, arena, naive)

"""The one registry of blocks, keyed by (name, version). Built-ins register with `@register`;
third parties through the `edgeops.blocks` entry-point group (each entry point names a
function that receives `register` and calls it for each of its blocks)."""

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, TypeVar

from edgeops.blocks.base import FeatureBlock
from edgeops.blocks.learn.base import Learner
from edgeops.errors import InvalidInput

BlockType = type[FeatureBlock]
LearnerType = type[Learner]
AnyBlock = TypeVar("AnyBlock", type[FeatureBlock], type[Learner])

_BLOCKS: dict[tuple[str, int], BlockType] = {}
_LEARNERS: dict[tuple[str, int], LearnerType] = {}
_BUILTIN_MODULES = (
    "edgeops.blocks.dsp",
    "edgeops.blocks.learn.nn",
    "edgeops.blocks.learn.trees",
    "edgeops.blocks.learn.anomaly",
)
_loaded = False


def register(block: AnyBlock) -> AnyBlock:
    """Add a feature block or learner class; a (name, version) pair can be registered once."""
    table: dict[tuple[str, int], type] = _LEARNERS if issubclass(block, Learner) else _BLOCKS
    key = (block.name, block.version)
    existing = table.get(key)
    if existing is not None and existing is not block:
        raise InvalidInput(f"block {block.name} v{block.version} is registered twice")
    table[key] = block
    return block


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _BUILTIN_MODULES:
        import_module(module)
    for entry in entry_points(group="edgeops.blocks"):
        plugin: Callable[[Callable[[BlockType], BlockType]], None] = entry.load()
        plugin(register)


def _lookup(table: dict[tuple[str, int], Any], name: str, version: int | None, what: str) -> Any:
    """A class from `table` by name and version (newest when None), or a clear error."""
    _load()
    versions = sorted(v for (n, v) in table if n == name)
    if not versions:
        known = ", ".join(sorted({n for n, _ in table}))
        raise InvalidInput(f"unknown {what} {name!r}; known {what}s: {known}")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise InvalidInput(f"{what} {name!r} has no version {version}; it has {versions}")
    return table[(name, chosen)]


def get(name: str, version: int | None = None) -> BlockType:
    """A feature block class by name and version (newest version when None)."""
    block: BlockType = _lookup(_BLOCKS, name, version, "block")
    return block


def all_blocks() -> list[BlockType]:
    """Every feature block, by name then version."""
    _load()
    return [_BLOCKS[key] for key in sorted(_BLOCKS)]


def get_learner(name: str, version: int | None = None) -> LearnerType:
    """A learner class by name and version (newest version when None)."""
    learner: LearnerType = _lookup(_LEARNERS, name, version, "learner")
    return learner


def all_learners() -> list[LearnerType]:
    _load()
    return [_LEARNERS[key] for key in sorted(_LEARNERS)]

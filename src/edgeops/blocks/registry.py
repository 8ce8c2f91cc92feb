"""The one registry of blocks, keyed by (name, version). Built-ins register with `@register`;
third parties through the `edgeops.blocks` entry-point group (each entry point names a
function that receives `register` and calls it for each of its blocks)."""

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points

from edgeops.blocks.base import FeatureBlock
from edgeops.errors import InvalidInput

BlockType = type[FeatureBlock]

_BLOCKS: dict[tuple[str, int], BlockType] = {}
_BUILTIN_MODULES = ("edgeops.blocks.dsp",)
_loaded = False


def register(block: BlockType) -> BlockType:
    """Add a block class; a (name, version) pair can be registered once."""
    key = (block.name, block.version)
    existing = _BLOCKS.get(key)
    if existing is not None and existing is not block:
        raise InvalidInput(f"block {block.name} v{block.version} is registered twice")
    _BLOCKS[key] = block
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


def get(name: str, version: int | None = None) -> BlockType:
    """A block class by name and version (newest version when None)."""
    _load()
    versions = sorted(v for (n, v) in _BLOCKS if n == name)
    if not versions:
        known = ", ".join(sorted({n for n, _ in _BLOCKS}))
        raise InvalidInput(f"unknown block {name!r}; known blocks: {known}")
    chosen = versions[-1] if version is None else version
    if chosen not in versions:
        raise InvalidInput(f"block {name!r} has no version {version}; it has {versions}")
    return _BLOCKS[(name, chosen)]


def all_blocks() -> list[BlockType]:
    _load()
    return [_BLOCKS[key] for key in sorted(_BLOCKS)]

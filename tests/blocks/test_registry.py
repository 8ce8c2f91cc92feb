"""The block registry: built-ins present, lookup by name and version, clear errors."""

import pytest

from edgeops.blocks import registry
from edgeops.blocks.base import FeatureBlock
from edgeops.blocks.dsp.flatten import Flatten
from edgeops.blocks.dsp.raw import Raw
from edgeops.blocks.dsp.spectral import Spectral
from edgeops.errors import InvalidInput


def test_builtins_by_name() -> None:
    assert registry.get("raw") is Raw
    assert registry.get("flatten", 1) is Flatten
    assert registry.get("spectral") is Spectral


def test_unknown_block_names_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown block 'nope'.*spectral"):
        registry.get("nope")


def test_unknown_version() -> None:
    with pytest.raises(InvalidInput, match="no version 7"):
        registry.get("raw", 7)


def test_registering_is_idempotent_but_a_clash_is_refused() -> None:
    assert registry.register(Raw) is Raw

    class Impostor(Raw):
        pass

    with pytest.raises(InvalidInput, match="raw v1 is registered twice"):
        registry.register(Impostor)


def test_every_block_describes_itself() -> None:
    for block_cls in registry.all_blocks():
        block: FeatureBlock = block_cls()
        description = block.describe()
        assert description["name"] == block_cls.name
        assert description["version"] >= 1
        assert block_cls.__doc__

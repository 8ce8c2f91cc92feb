"""Feature blocks (DSP): numpy references with C twins. Importing this registers them."""

from edgeops.blocks.dsp import flatten, raw, spectral

__all__ = ["flatten", "raw", "spectral"]

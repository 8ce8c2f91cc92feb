"""Feature blocks (DSP): numpy references with C twins. Importing this registers them."""

from edgeops.blocks.dsp import audio, flatten, image, mfcc, mfe, raw, spectral, spectrogram

__all__ = ["flatten", "raw", "spectral"]
__all__ += ["audio", "mfcc", "mfe", "spectrogram"]
__all__ += ["image"]

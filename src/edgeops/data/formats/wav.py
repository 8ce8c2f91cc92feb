"""WAV audio: PCM integers or floats, any channel count, to canonical float32 in [-1, 1]."""

import io
import warnings

import numpy as np

from edgeops.data.formats import ParsedSample, Sensor
from edgeops.errors import InvalidSample


def parse_wav(data: bytes) -> ParsedSample:
    """Read a WAV file; float samples are kept as they are (after checking they are finite)."""
    from scipy.io import wavfile  # imported here: it adds 0.2 s to every CLI start otherwise

    try:
        with warnings.catch_warnings():
            # Unknown chunks (LIST, bext, ...) are common in recorder output and harmless.
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            sample_rate, samples = wavfile.read(io.BytesIO(data))
    except Exception as exc:
        raise InvalidSample(f"not a readable WAV file ({exc}); export it as PCM WAV") from exc

    if samples.ndim == 1:
        samples = samples[:, np.newaxis]
    n_frames, n_channels = samples.shape
    if n_frames == 0 or n_channels == 0:
        raise InvalidSample("WAV file holds no audio frames; record some audio")
    if sample_rate <= 0:
        raise InvalidSample(f"sample rate is {sample_rate} Hz; fix the WAV header")

    if samples.dtype.kind == "f":
        with np.errstate(over="ignore"):  # overflow is reported just below
            values = samples.astype(np.float32)
        bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
        if bad.size:
            raise InvalidSample(
                f"samples contain NaN or infinity (or exceed float32) at frame {bad[0]}; "
                "re-export the audio with finite samples"
            )
    elif samples.dtype == np.uint8:  # 8-bit WAV is unsigned, centred on 128
        values = ((samples.astype(np.float32) - 128) / 128).astype(np.float32)
    elif samples.dtype.kind == "i":
        # Dtype kind and size, not the exact dtype: RIFX files come back big-endian, and scipy
        # returns 24-bit PCM left-aligned in int32, so it scales like 32-bit.
        full_scale = 2.0 ** (8 * samples.dtype.itemsize - 1)
        values = (samples.astype(np.float64) / full_scale).astype(np.float32)
    else:
        raise InvalidSample(f"unsupported WAV sample type {samples.dtype}; convert to 16-bit PCM")

    if n_channels == 1:
        sensors = [Sensor("audio", "wav")]
    else:
        sensors = [Sensor(f"channel{index}", "wav") for index in range(n_channels)]
    return ParsedSample(
        kind="audio",
        values=values,
        format="wav",
        sensors=sensors,
        sample_rate=int(sample_rate),
    )

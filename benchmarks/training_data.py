"""Real data sets for benchmarks/training.py, written as the files a user would import.

- motion: BasicMotions (the demo's 80 signed Edge Impulse JSON recordings, 10 Hz, 6 axes).
- image: all 1,797 scikit-learn digits as 8x8 grayscale PNG files.
- audio: one speaker's studio words from the Debian package asterisk-core-sounds-en-wav
  (8 kHz mono int16), labelled by their folder (digits / letters / phonetic). The split is made
  here, by recording, before augmentation: testing recordings are written untouched to
  `testing/`, and only training recordings get augmented copies (speed, gain, noise) in
  `training/`, so no testing recording, nor a copy of one, is ever trained on.
"""

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ASTERISK_PACKAGE = "asterisk-core-sounds-en-wav"
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
SPEECH_FOLDERS = ("digits", "letters", "phonetic")
SPEECH_RATE = 8_000
TEST_SHARE = 0.2
SPEED_RANGE = (0.9, 1.1)  # playback speed: tempo and pitch together, as in Kaldi's perturbation
GAIN_DB_RANGE = (-6.0, 6.0)
SNR_DB_RANGE = (15.0, 30.0)  # white noise, relative to the clip's RMS


def write_motion(folder: Path) -> dict[str, Any]:
    from edgeops.demo import write_recordings

    paths = write_recordings(folder)
    return {
        "data": "BasicMotions (UEA archive; the demo's signed EI JSON): 80 recordings of 100 "
        "steps at 10 Hz, 6 axes, 4 activities",
        "recordings": len(paths),
        "split": "importer's stratified 80/20 by recording",
    }


def write_digits(folder: Path) -> dict[str, Any]:
    from PIL import Image
    from sklearn.datasets import load_digits

    folder.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    for index, (image, target) in enumerate(zip(digits.images, digits.target, strict=True)):
        pixels = (image * 16).clip(0, 255).astype(np.uint8)  # 0..16 → 0..255
        Image.fromarray(pixels).save(folder / f"{target}.{index:04d}.png")
    return {
        "data": "scikit-learn digits: 1,797 8x8 grayscale PNG files, 10 classes",
        "recordings": len(digits.target),
        "split": "importer's stratified 80/20 by image",
    }


def speech_available() -> bool:
    return all((ASTERISK_SOUNDS / name).is_dir() for name in SPEECH_FOLDERS)


def speech_recordings() -> dict[str, list[Path]]:
    """Per folder, its WAV files; a word found in more than one folder (`at`) is left out,
    since the same word under two labels cannot be learnt from sound."""
    files = {name: sorted((ASTERISK_SOUNDS / name).glob("*.wav")) for name in SPEECH_FOLDERS}
    stems = Counter(path.stem for paths in files.values() for path in paths)
    return {name: [p for p in paths if stems[p.stem] == 1] for name, paths in files.items()}


def write_speech(folder: Path, copies: int, seed: int = 0) -> dict[str, Any]:
    """`training/` and `testing/` folders of `<label>.<word>.<copy>.wav` files (see the module
    docstring); returns what was written."""
    from scipy.io import wavfile

    rng = np.random.default_rng(seed)
    training, testing = folder / "training", folder / "testing"
    training.mkdir(parents=True, exist_ok=True)
    testing.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    for label, paths in speech_recordings().items():
        order = rng.permutation(len(paths))
        held = {int(i) for i in order[: round(TEST_SHARE * len(paths))]}
        for index, path in enumerate(paths):
            rate, clip = wavfile.read(path)
            assert rate == SPEECH_RATE and clip.dtype == np.int16 and clip.ndim == 1, path
            if index in held:
                wavfile.write(testing / f"{label}.{path.stem}.0.wav", rate, clip)
                continue
            wavfile.write(training / f"{label}.{path.stem}.0.wav", rate, clip)
            for copy in range(1, copies + 1):
                wavfile.write(training / f"{label}.{path.stem}.{copy}.wav", rate,
                              augment(clip, rng))  # fmt: skip
        counts[label] = {"recordings": len(paths), "testing": len(held)}
    return {
        "data": f"Debian {ASTERISK_PACKAGE}: one speaker's studio words, 8 kHz mono int16, "
        f"labelled by folder ({', '.join(SPEECH_FOLDERS)})",
        "recordings": sum(c["recordings"] for c in counts.values()),
        "per_label": counts,
        "split": f"by recording, {TEST_SHARE:.0%} of each folder to testing (seed {seed}) "
        "before augmentation",
        "augmentation": f"training only: {copies} copies per recording, speed x"
        f"U{SPEED_RANGE}, gain U{GAIN_DB_RANGE} dB, white noise at SNR U{SNR_DB_RANGE} dB",
    }


def augment(clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """int16 clip → a copy at another speed, gain and noise level (int16)."""
    from scipy.signal import resample

    signal = clip.astype(np.float64)
    speed = rng.uniform(*SPEED_RANGE)
    signal = resample(signal, max(2, round(len(signal) / speed)))
    signal *= 10 ** (rng.uniform(*GAIN_DB_RANGE) / 20)
    rms = np.sqrt(np.mean(signal**2)) or 1.0
    noise_rms = rms / 10 ** (rng.uniform(*SNR_DB_RANGE) / 20)
    signal += rng.normal(0, noise_rms, size=len(signal))
    return np.asarray(np.clip(np.round(signal), -32768, 32767).astype(np.int16))


def mfcc_statistics(windows: np.ndarray) -> np.ndarray:
    """(n, samples, 1) 8 kHz windows → (n, 26): mean and std over frames of librosa's 13 MFCCs
    (32 mel filters, FFT 256, 20 ms frames every 20 ms: the recipe's framing)."""
    import librosa

    cepstra = librosa.feature.mfcc(
        y=np.ascontiguousarray(windows[:, :, 0], dtype=np.float32), sr=SPEECH_RATE, n_mfcc=13,
        n_fft=256, hop_length=160, win_length=160, n_mels=32, center=False,
    )  # fmt: skip
    return np.concatenate([cepstra.mean(axis=2), cepstra.std(axis=2)], axis=1)

"""Starting recipes for `edgeops recipe new`: YAML with a comment on every field."""

MOTION = """\
# A recipe: how raw samples become windows, which feature blocks turn windows into
# features, and which learner trains on them. Its version is the hash of its canonical form.
name: motion

input:
  kind: timeseries          # timeseries | audio | image
  axes: [accX, accY, accZ]  # the sample's axes, in this order
  frequency_hz: 100         # sampling rate of the samples
  window_ms: 2000           # one window = 2 s = 200 steps at 100 Hz
  stride_ms: 200            # a new window every 200 ms (shorter than the window: overlap)
  zero_pad: true            # pad a sample shorter than one window instead of dropping it

# Feature blocks run side by side on each window; their outputs are concatenated.
# `version` is optional: left out, the newest registered version is pinned when loading.
features:
  - name: spectral          # FFT band powers and spectral peaks, per axis
    params:
      filter: none          # none | low | high (Butterworth, cutoff_hz below Nyquist)
      fft_length: 128       # power of two, 16..4096
      bands: 4              # log band powers from 0 Hz to Nyquist
      peaks: 3              # highest spectral peaks as (frequency, power)
  - name: flatten           # statistics of each axis over the window
    params:
      statistics: [mean, min, max, rms, std, skewness, kurtosis]

# The learner trains on the features: nn-classifier | nn-regressor | trees |
# anomaly-kmeans | anomaly-gmm. Its params are checked by the learner itself.
learner:
  name: nn-classifier
  params:
    layers: [{dense: 20}, {dense: 10}]  # hidden dense layers (neurons each)
    epochs: 30
    learning_rate: 0.0005

# Optional: an anomaly learner trained alongside, flagging windows unlike the training data.
# anomaly:
#   name: anomaly-kmeans
#   params: {clusters: 32}
"""

AUDIO = """\
# A recipe for keyword spotting / audio events: MFCC features and a small classifier.
name: audio

input:
  kind: audio               # audio has one axis
  axes: [audio]
  frequency_hz: 16000       # sampling rate of the recordings
  window_ms: 1000           # one window = 1 s
  stride_ms: 500            # a new window every 500 ms
  zero_pad: true            # pad a recording shorter than one window

features:
  - name: mfcc              # mel-frequency cepstral coefficients
    params:
      frame_length_s: 0.02  # 20 ms frames = 320 samples at 16 kHz
      frame_stride_s: 0.02  # a new frame every 20 ms
      fft_length: 512       # power of two, at least the frame's samples
      num_filters: 32       # mel filters
      num_cepstral: 13      # coefficients kept per frame

learner:
  name: nn-classifier
  params:
    layers: [{conv1d: 8, kernel: 3}, {conv1d: 16, kernel: 3}]  # 1-D convolutions over frames
    epochs: 100
    learning_rate: 0.005
"""

IMAGE = """\
# A recipe for image classification: pixels scaled for a small convolutional network.
name: image

input:
  kind: image
  width: 96                 # images are resized to width x height
  height: 96
  channels: 1               # 1 = grayscale, 3 = RGB

features:
  - name: image             # pixels resized (fit | crop | squash), colour-converted, scaled
    params:
      width: 96
      height: 96
      resize: fit           # fit (letterbox) | crop (centre) | squash (ignore aspect)
      color: grayscale      # grayscale | rgb
      scale: unit           # unit (0..1) | int8 (pixel - 128)

learner:
  name: nn-classifier
  params:
    layers: [{conv2d: 8, kernel: 3}, {conv2d: 16, kernel: 3}, {dense: 16}]
    epochs: 20
    learning_rate: 0.001
"""

TEMPLATES: dict[str, str] = {"motion": MOTION, "audio": AUDIO, "image": IMAGE}

"""Synthetic two-stream videos with the structure ASSG attacks (docs/DESIGN.md "Data").

Real I3D features are not reachable here, so the project runs end to end on synthetic features
that reproduce the phenomenon of the paper (sections 1 and 3): an action instance has a short
*discriminative core* that a CAS network finds easily, while its remaining frames carry a weaker
but real class signal that only growing recovers; some instances are weak throughout; shot
changes (jumps of the scene) often coincide with action boundaries (the background seeds of
3.2.1); rgb and flow have different strengths.

The generative model of one stream of one video with T snippets and D channels. A latent
signal z, in units of the per-channel noise standard deviation, is

    z[t] = noise[t] + scene[shot(t)] + sum_k amp[k, t] * prototype[label_k]

and the features are what an I3D network's last ReLU gives, non-negative and smooth in time:

    x[t] = ReLU(mu + scale * z[t])

- `noise[t]`: temporally correlated, like real video (the content of neighbouring snippets
  overlaps): per channel a stationary AR(1) process of unit variance whose correlation decays
  as exp(-lag / `noise_seconds`), so consecutive 0.64 s snippets correlate at
  exp(-0.64 / noise_seconds). Independent noise per snippet (the first versions) makes every
  per-snippet map flicker and fragments every instance, which real features do not.
- `prototype[c]`: the C class prototypes are orthonormal directions (per stream).
- `amp[k, t]`: for snippets of instance k, `class_strength` on its core (a contiguous run of
  `core_fraction` of the instance at a random place) and `weak_ratio * class_strength` on its
  other snippets; a weak instance (probability `weak_instance_prob`) has no core, only the weak
  level. Overlapping instances add up. Ambiguous THUMOS'14 segments are background.
- `scene[s]`: one vector per shot, orthogonal to every class prototype (scenes mark shots but
  fake no class evidence), of norm `scene_strength * sqrt(D)`, i.e. `scene_strength` times the
  norm of the noise. Scenes are drawn from a bank of `num_scenes` scene vectors shared by all
  videos of the dataset (real benchmarks film a limited set of venues: THUMOS' pools, fields
  and gyms), so the same scene appears in videos of different classes and a network can learn
  that scenes carry no class; with a fresh random scene per shot, a few hundred training videos
  are far too few to learn that (a linear classifier of video-mean features then reaches 58 %
  test accuracy on the tiny spec against 95 % training accuracy). A shot change makes the jump
  between neighbouring snippets far larger than the usual one (a shot-change detector with a
  threshold of 2 medians, CASConfig.shot_change_ratio, sees them).
  A shot starts at each action boundary with probability `boundary_shot_prob`, and at random
  snippets at `random_shots_per_minute`.
- `mu` [D]: the per-channel mean level of the features, shared by all videos of a stream,
  drawn once from a Gamma(4, `feature_mean` / 4) distribution (I3D channels differ widely in
  their mean level, some are nearly always off); `scale` = `feature_scale` * `feature_mean`
  sets the within-video spread. The ReLU zeroes the few values that fall below 0.
- Streams: rgb carries more scene (appearance) and less class signal, flow the opposite, so
  flow alone localises better and the fusion of the two best.

`realism_statistics` measures what makes features look like I3D's, and BUILD.md / RESULTS.md
list the figures of every spec beside those of a real video's published I3D features
(`assg_tf/data/real_i3d`): consecutive-snippet cosine against the cosine of any two snippets,
per-channel lag-1 autocorrelation, the share of zeros. The generator's constants
(`feature_mean`, `feature_scale`, `*_noise_seconds`) were set from those real figures alone,
never from how well a method does on the data.

Layouts (where the instances are):
- "thumos": the real THUMOS'14 annotations shipped in `assg_tf/data/thumos14`: durations and
  segments from `thumos14.json` (Validation -> train, Test -> test, 200 / 212 videos) and the
  `Ambiguous` segments from the challenge's `Ambiguous_{val,test}.txt`. The 20 classes in
  alphabetical order (THUMOS' own label ids).
- "anet": the real ActivityNet 1.3 annotations in `assg_tf/data/activitynet13` restricted to a
  limited class set: the `num_classes` classes with the most training videos (ties by name),
  then the videos whose labels all belong to it (training -> train, validation -> test), the
  first `num_train_videos` / `num_test_videos` by video id. `synthetic_anet` (20 classes,
  400 / 200 videos) is the ActivityNet regime: 1.6-1.7 instances per video covering 70% (train)
  / 74% (test) of it on average, videos of 2-240 s (~122 s on average).
- "random": generated: T uniform in [min_segments, max_segments], one class (or two with
  probability `two_class_prob`), 1-4 instances per class of `instance_segments` snippets each,
  non-overlapping, covering at most 60% of the video (THUMOS-like short actions).
Real layouts do not depend on the seed; the seed only changes the features (and the random
layouts). Time base: snippet t covers [t * delta, (t + 1) * delta) seconds, delta =
`seconds_per_segment`; a video of duration d has T = max(1, ceil(d / delta)) snippets and an
instance [s, e] covers the snippets whose centre lies in [s, e) (at least one).

Every video is generated from its own RNG seeded by (spec.seed, video id), so neither the order
nor the subset of videos generated changes any video's bytes.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import zlib
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from assg_tf import evaluation
from assg_tf import run_dir
from assg_tf.config import STREAMS

_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
THUMOS_DIR = os.path.join(_DATA_DIR, "thumos14")
ANET_DIR = os.path.join(_DATA_DIR, "activitynet13")
SPLITS = ("train", "test")
LAYOUTS = ("thumos", "anet", "random")


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
  """Everything that determines a synthetic dataset (see the module docstring)."""
  name: str
  num_classes: int
  feature_dim: int  # per stream
  layout: str  # thumos | anet | random
  # Videos per split; None = all videos of a real layout (required for "random").
  num_train_videos: Optional[int] = None
  num_test_videos: Optional[int] = None
  seconds_per_segment: float = 0.64
  seed: int = 0
  # Class signal of the core, in noise standard deviations, per stream.
  rgb_class_strength: float = 4.0
  flow_class_strength: float = 6.0
  # Scene vector norm, in noise norms, per stream. Version 1.1 had 3.0 / 2.5 with independent
  # noise; with I3D-like correlated noise that made features far smoother than the real sample
  # (lag-1 autocorrelation 0.58 at 2.56 s against 0.23, two-snippet cosine 0.82 against 0.63),
  # so 1.2.0 lowered them to what the real statistics allow (realism_statistics). A shot change
  # still stands out: correlated noise barely changes between neighbouring snippets.
  rgb_scene_strength: float = 1.0
  flow_scene_strength: float = 0.8
  core_fraction: Tuple[float, float] = (0.15, 0.3)  # of the instance length, uniform
  weak_ratio: Tuple[float, float] = (0.3, 0.5)  # non-core level / core level, uniform
  weak_instance_prob: float = 0.15
  boundary_shot_prob: float = 0.7
  random_shots_per_minute: float = 3.0
  num_scenes: int = 24  # the bank of scene vectors shared by all videos
  # Temporal correlation of the noise: exp(-lag / noise_seconds) (module docstring): the real
  # I3D sample's per-channel lag-1 autocorrelation at its 2.56 s stride is 0.23 (rgb) / 0.10
  # (flow), i.e. exp(-2.56 / 1.7) and exp(-2.56 / 1.1) once its 14-snippet estimate's downward
  # bias is allowed for; flow changes faster than appearance.
  rgb_noise_seconds: float = 1.7
  flow_noise_seconds: float = 1.1
  # Observation: x = ReLU(mu + feature_scale * feature_mean * z), mu ~ Gamma(4, mean / 4): the
  # real sample's channels average 0.17 (rgb) / 0.10 (flow), and its cosine of two distinct
  # snippets (0.63 / 0.56) sets how large the within-video spread is against the mean level.
  rgb_feature_mean: float = 0.17
  flow_feature_mean: float = 0.10
  feature_scale: float = 0.9
  # "random" layout only.
  min_segments: int = 60
  max_segments: int = 200
  instance_segments: Tuple[int, int] = (4, 24)
  max_instances_per_class: int = 4
  two_class_prob: float = 0.25

  def __post_init__(self):
    if self.layout not in LAYOUTS:
      raise ValueError(f"SyntheticSpec {self.name!r}: layout={self.layout!r}, expected one of "
                       f"{LAYOUTS}")
    if self.layout == "thumos" and self.num_classes != 20:
      raise ValueError(f"SyntheticSpec {self.name!r}: the thumos layout has 20 classes, got "
                       f"num_classes={self.num_classes}")
    if not 1 <= self.num_classes <= self.feature_dim // 2:
      raise ValueError(f"SyntheticSpec {self.name!r}: num_classes={self.num_classes} must be in "
                       f"[1, feature_dim / 2 = {self.feature_dim // 2}] (class prototypes and "
                       "scenes need room)")
    if self.layout == "random" and (self.num_train_videos is None or
                                    self.num_test_videos is None):
      raise ValueError(f"SyntheticSpec {self.name!r}: the random layout needs num_train_videos "
                       "and num_test_videos")
    if self.seconds_per_segment <= 0:
      raise ValueError(f"SyntheticSpec {self.name!r}: seconds_per_segment must be > 0, got "
                       f"{self.seconds_per_segment}")


# feature_dim 256 per stream for the benchmark-sized specs: real I3D has 1024, but 256 keeps
# training and benchmarks feasible on 2 CPU cores while leaving the prototypes and scenes far
# more room than they need.
SPECS: Dict[str, SyntheticSpec] = {
    "synthetic": SyntheticSpec(
        name="synthetic", num_classes=8, feature_dim=32, layout="random",
        num_train_videos=160, num_test_videos=60),
    "synthetic_thumos": SyntheticSpec(
        name="synthetic_thumos", num_classes=20, feature_dim=256, layout="thumos"),
    "synthetic_anet": SyntheticSpec(
        name="synthetic_anet", num_classes=20, feature_dim=256, layout="anet",
        num_train_videos=400, num_test_videos=200),
}


@dataclasses.dataclass(frozen=True)
class VideoLayout:
  """Where the actions of one video are, in seconds."""
  video_id: str
  duration: float
  segments: np.ndarray  # float32 [K, 2]
  segment_labels: np.ndarray  # int64 [K]
  ambiguous: np.ndarray  # float32 [A, 2]


@dataclasses.dataclass(frozen=True)
class VideoStructure:
  """The hidden structure of a generated video, in snippets (for tests and pictures)."""
  instance_start: np.ndarray  # int64 [K], first snippet of each instance
  instance_end: np.ndarray  # int64 [K], one past the last
  core_start: np.ndarray  # int64 [K]; core_start == core_end for weak instances
  core_end: np.ndarray  # int64 [K]
  weak_ratio: np.ndarray  # float32 [K], non-core level / core level
  shot_starts: np.ndarray  # int64 [S-1], first snippets of every shot but the first
  latent: Dict[str, np.ndarray]  # per stream, z [T, D] before the observation (noise units)


def _spec(spec_or_name) -> SyntheticSpec:
  if isinstance(spec_or_name, SyntheticSpec):
    return spec_or_name
  if spec_or_name not in SPECS:
    raise ValueError(f"unknown synthetic dataset {spec_or_name!r}; expected one of "
                     f"{sorted(SPECS)}")
  return SPECS[spec_or_name]


def _check_split(split: str) -> None:
  if split not in SPLITS:
    raise ValueError(f"split={split!r}: expected one of {SPLITS}")


def _rng(*key: int) -> np.random.Generator:
  return np.random.default_rng([int(k) for k in key])


def _video_key(video_id: str) -> int:
  return zlib.crc32(video_id.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# Layouts.


def _thumos_classes() -> List[str]:
  with open(os.path.join(THUMOS_DIR, "thumos14.json")) as f:
    database = json.load(f)["database"]
  return sorted({a["label"] for v in database.values() for a in v["annotations"]})


def _anet_classes(num_classes: int) -> List[str]:
  annotations, subsets = _anet_annotations()
  counts: Dict[str, int] = {}
  for video_id, entry in annotations.items():
    if subsets[video_id] == "training":
      for label in {a["label"] for a in entry["annotations"]}:
        counts[label] = counts.get(label, 0) + 1
  top = sorted(counts, key=lambda c: (-counts[c], c))[:num_classes]
  return sorted(top)


def class_names(spec) -> List[str]:
  """The class names of a spec (or spec name), in label-id order."""
  spec = _spec(spec)
  if spec.layout == "thumos":
    return _thumos_classes()
  if spec.layout == "anet":
    return _anet_classes(spec.num_classes)
  return [f"class_{c:02d}" for c in range(spec.num_classes)]


def _clean_segments(segments: np.ndarray, duration: float) -> np.ndarray:
  """[K, 2] seconds clipped to [0, duration]."""
  return np.clip(np.asarray(segments, np.float64).reshape(-1, 2), 0.0, duration)


def _layout(video_id, duration, segments, labels, ambiguous) -> VideoLayout:
  """A layout with non-empty segments clipped to the video, sorted by (start, end, label)."""
  segments = _clean_segments(segments, duration).astype(np.float32)
  labels = np.asarray(labels, np.int64).reshape(-1)
  keep = segments[:, 1] > segments[:, 0]
  segments, labels = segments[keep], labels[keep]
  order = np.lexsort((labels, segments[:, 1], segments[:, 0]))
  ambiguous = _clean_segments(ambiguous, duration).astype(np.float32)
  ambiguous = ambiguous[ambiguous[:, 1] > ambiguous[:, 0]]
  ambiguous = ambiguous[np.lexsort((ambiguous[:, 1], ambiguous[:, 0]))]
  return VideoLayout(video_id=video_id, duration=float(duration), segments=segments[order],
                     segment_labels=labels[order], ambiguous=ambiguous)


def _thumos_layouts(spec: SyntheticSpec, split: str) -> List[VideoLayout]:
  with open(os.path.join(THUMOS_DIR, "thumos14.json")) as f:
    database = json.load(f)["database"]
  subset, suffix = {"train": ("Validation", "val"), "test": ("Test", "test")}[split]
  ambiguous: Dict[str, List[Tuple[float, float]]] = {}
  with open(os.path.join(THUMOS_DIR, f"annotations_{suffix}", f"Ambiguous_{suffix}.txt")) as f:
    for line in f:
      if line.strip():
        video_id, start, end = line.split()
        ambiguous.setdefault(video_id, []).append((float(start), float(end)))
  index = {name: i for i, name in enumerate(_thumos_classes())}
  layouts = []
  for video_id in sorted(v for v, e in database.items() if e["subset"] == subset):
    entry = database[video_id]
    layouts.append(_layout(
        video_id, entry["duration"],
        [a["segment"] for a in entry["annotations"]],
        [index[a["label"]] for a in entry["annotations"]],
        ambiguous.get(video_id, [])))
  limit = spec.num_train_videos if split == "train" else spec.num_test_videos
  return layouts[:limit]


_ANET_CACHE: Dict[str, Any] = {}


def _anet_annotations():
  if "annotations" not in _ANET_CACHE:
    with open(os.path.join(ANET_DIR, "anet_anno_action.json")) as f:
      annotations = json.load(f)
    with open(os.path.join(ANET_DIR, "video_info_new.csv")) as f:
      subsets = {row["video"]: row["subset"] for row in csv.DictReader(f)}
    _ANET_CACHE["annotations"] = (annotations, subsets)
  return _ANET_CACHE["annotations"]


def _anet_layouts(spec: SyntheticSpec, split: str) -> List[VideoLayout]:
  annotations, subsets = _anet_annotations()
  index = {name: i for i, name in enumerate(_anet_classes(spec.num_classes))}
  subset = {"train": "training", "test": "validation"}[split]
  limit = spec.num_train_videos if split == "train" else spec.num_test_videos
  layouts = []
  for video_id in sorted(annotations):
    entry = annotations[video_id]
    labels = [a["label"] for a in entry["annotations"]]
    if subsets.get(video_id) != subset or not labels or not set(labels) <= set(index):
      continue
    layout = _layout(video_id, entry["duration_second"],
                     [a["segment"] for a in entry["annotations"]],
                     [index[l] for l in labels], [])
    if len(layout.segments):
      layouts.append(layout)
    if limit is not None and len(layouts) == limit:
      break
  return layouts


def _random_layout(spec: SyntheticSpec, split: str, i: int) -> VideoLayout:
  rng = _rng(spec.seed, SPLITS.index(split), i, 7)
  delta = spec.seconds_per_segment
  num_frames = int(rng.integers(spec.min_segments, spec.max_segments + 1))
  num_labels = 2 if rng.random() < spec.two_class_prob else 1
  classes = rng.choice(spec.num_classes, size=num_labels, replace=False)
  per_class = rng.integers(1, spec.max_instances_per_class + 1, size=num_labels)
  labels = rng.permutation(np.repeat(classes, per_class))
  lo, hi = spec.instance_segments
  lengths = rng.integers(lo, hi + 1, size=len(labels))
  scale = min(1.0, 0.6 * num_frames / lengths.sum())
  lengths = np.maximum(1, np.floor(lengths * scale)).astype(np.int64)
  # Non-overlapping placement: split the free snippets into K + 1 gaps (stars and bars).
  free = num_frames - lengths.sum()
  cuts = np.sort(rng.integers(0, free + 1, size=len(labels)))
  gaps = np.diff(np.concatenate([[0], cuts]))
  starts = np.cumsum(gaps) + np.concatenate([[0], np.cumsum(lengths)[:-1]])
  segments = np.stack([starts, starts + lengths], axis=1) * delta
  return _layout(f"{spec.name}_{split}_{i:05d}", num_frames * delta, segments, labels, [])


def video_layouts(spec, split: str) -> List[VideoLayout]:
  """The videos of a split: ids, durations and annotated segments in seconds."""
  spec = _spec(spec)
  _check_split(split)
  if spec.layout == "thumos":
    return _thumos_layouts(spec, split)
  if spec.layout == "anet":
    return _anet_layouts(spec, split)
  count = spec.num_train_videos if split == "train" else spec.num_test_videos
  return [_random_layout(spec, split, i) for i in range(count)]


# ---------------------------------------------------------------------------------------------
# Features.


def class_prototypes(spec, stream: str) -> np.ndarray:
  """The orthonormal class prototypes [C, D] (float64) of stream "rgb" or "flow"."""
  spec = _spec(spec)
  if stream not in STREAMS:
    raise ValueError(f"stream={stream!r}: expected one of {STREAMS}")
  rng = _rng(spec.seed, 0xC1A55, STREAMS.index(stream))
  q, _ = np.linalg.qr(rng.standard_normal((spec.feature_dim, spec.num_classes)))
  return q.T.astype(np.float64)


def scene_bank(spec, stream: str) -> np.ndarray:
  """[num_scenes, D] unit scene vectors of a stream, orthogonal to every class prototype."""
  spec = _spec(spec)
  protos = class_prototypes(spec, stream)
  rng = _rng(spec.seed, 0x5CE7E, STREAMS.index(stream))
  scenes = rng.standard_normal((spec.num_scenes, spec.feature_dim))
  scenes -= (scenes @ protos.T) @ protos
  return scenes / np.linalg.norm(scenes, axis=1, keepdims=True)


def correlated_noise(rng: np.random.Generator, length: int, dim: int,
                     correlation: float) -> np.ndarray:
  """[length, dim] float32 stationary AR(1) noise of unit variance per channel:
  n[t] = correlation * n[t-1] + sqrt(1 - correlation**2) * e[t], n[0] = e[0]."""
  from scipy import signal  # pylint: disable=g-import-not-at-top (scikit-learn's dependency)
  e = rng.standard_normal((length, dim))
  e[1:] *= np.sqrt(1.0 - correlation ** 2)
  return signal.lfilter([1.0], [1.0, -correlation], e, axis=0).astype(np.float32)


def channel_means(spec, stream: str) -> np.ndarray:
  """mu [D] of a stream: each channel's mean level, Gamma(4, feature_mean / 4) distributed."""
  spec = _spec(spec)
  mean = getattr(spec, f"{stream}_feature_mean")
  rng = _rng(spec.seed, 0xFEA7, STREAMS.index(stream))
  return rng.gamma(4.0, mean / 4.0, size=spec.feature_dim).astype(np.float32)


def observe(spec, stream: str, latent: np.ndarray) -> np.ndarray:
  """Latent z [T, D] (noise units) -> features ReLU(mu + feature_scale * feature_mean * z)."""
  spec = _spec(spec)
  scale = spec.feature_scale * getattr(spec, f"{stream}_feature_mean")
  return np.maximum(channel_means(spec, stream) + np.float32(scale) * latent,
                    0.0).astype(np.float32)


def realism_statistics(features: np.ndarray, stride: int = 1) -> Dict[str, float]:
  """Statistics of one video's features [T, D] that tell real I3D features from noise, taken
  every `stride` snippets (the real sample in `assg_tf/data/real_i3d` has a 2.56 s stride, 4
  of our 0.64 s snippets):
  `consecutive_cosine` (mean cosine of neighbouring snippets), `any_cosine` (mean cosine of
  two distinct snippets), `lag1_autocorrelation` (per channel, averaged over channels with any
  variation), `zero_fraction`, `channel_mean`, `channel_std` (within-video, averaged)."""
  x = np.asarray(features, np.float64)[::stride]
  if len(x) < 3:
    raise ValueError(f"realism_statistics needs at least 3 snippets after stride {stride}, "
                     f"got {len(x)}")
  unit = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
  gram = unit @ unit.T
  n = len(x)
  centred = x - x.mean(0)
  power = (centred ** 2).sum(0)
  varying = power > 1e-12
  lag1 = (centred[1:] * centred[:-1]).sum(0)[varying] / power[varying]
  return {
      "consecutive_cosine": float(np.mean(np.sum(unit[1:] * unit[:-1], axis=1))),
      "any_cosine": float((gram.sum() - np.trace(gram)) / (n * n - n)),
      "lag1_autocorrelation": float(lag1.mean()) if lag1.size else 0.0,
      "zero_fraction": float(np.mean(x == 0)),
      "channel_mean": float(x.mean()),
      "channel_std": float(x.std(0).mean()),
  }


def _snippet_range(segments: np.ndarray, delta: float, num_frames: int):
  """Snippets whose centre lies in [s, e): first and one-past-last, at least one snippet."""
  start = np.ceil(segments[:, 0] / delta - 0.5).astype(np.int64)
  end = np.ceil(segments[:, 1] / delta - 0.5).astype(np.int64)
  start = np.clip(start, 0, num_frames - 1)
  end = np.clip(np.maximum(end, start + 1), 1, num_frames)
  return start, end


def generate_video(spec, layout: VideoLayout) -> Tuple[Dict[str, Any], VideoStructure]:
  """One video: the dataset example (docs/DESIGN.md) and its hidden structure."""
  spec = _spec(spec)
  delta = spec.seconds_per_segment
  num_frames = max(1, int(np.ceil(layout.duration / delta - 1e-9)))
  dim = spec.feature_dim
  rng = _rng(spec.seed, _video_key(layout.video_id), 1)
  k = len(layout.segment_labels)

  # Instances, cores and weak levels (shared by both streams: it is one video).
  start, end = _snippet_range(layout.segments, delta, num_frames)
  length = end - start
  core_len = np.maximum(1, np.round(rng.uniform(*spec.core_fraction, size=k) * length))
  core_len = np.minimum(core_len, length).astype(np.int64)
  core_start = start + np.floor(rng.random(k) * (length - core_len + 1)).astype(np.int64)
  weak = rng.random(k) < spec.weak_instance_prob
  core_end = np.where(weak, core_start, core_start + core_len)
  ratio = rng.uniform(*spec.weak_ratio, size=k)
  t = np.arange(num_frames)
  inside = (t >= start[:, None]) & (t < end[:, None])
  in_core = (t >= core_start[:, None]) & (t < core_end[:, None])
  amp = inside * np.where(in_core, 1.0, ratio[:, None])  # [K, T] in units of class strength

  # Shots: at action boundaries with some probability, plus random ones.
  boundaries = np.concatenate([start, end])
  at_boundary = boundaries[rng.random(2 * k) < spec.boundary_shot_prob]
  rate = spec.random_shots_per_minute * delta / 60.0
  random_shots = np.flatnonzero(rng.random(num_frames) < rate)
  shot_starts = np.unique(np.concatenate([at_boundary, random_shots]).astype(np.int64))
  shot_starts = shot_starts[(shot_starts > 0) & (shot_starts < num_frames)]
  shot_of = np.searchsorted(shot_starts, t, side="right")  # [T] in 0..S-1

  streams, latents = {}, {}
  for name in STREAMS:
    class_strength = getattr(spec, f"{name}_class_strength")
    scene_strength = getattr(spec, f"{name}_scene_strength")
    protos = class_prototypes(spec, name)
    bank = scene_bank(spec, name) * scene_strength * np.sqrt(dim)
    # Consecutive shots never share a scene: a shot change is always a change of scene.
    steps = rng.integers(1, len(bank), size=len(shot_starts) + 1)
    steps[0] = rng.integers(0, len(bank))
    scenes = bank[np.cumsum(steps) % len(bank)]
    latent = correlated_noise(rng, num_frames, dim,
                              np.exp(-delta / getattr(spec, f"{name}_noise_seconds")))
    latent += scenes.astype(np.float32)[shot_of]
    if k:
      latent += (class_strength * amp.T).astype(np.float32) @ protos[
          layout.segment_labels].astype(np.float32)
    streams[name] = observe(spec, name, latent)
    latents[name] = latent

  labels = np.zeros(spec.num_classes, np.float32)
  labels[layout.segment_labels] = 1.0
  example = {
      "video_id": layout.video_id,
      "rgb": streams["rgb"],
      "flow": streams["flow"],
      "num_segments": num_frames,
      "seconds_per_segment": float(delta),
      "duration": float(layout.duration),
      "labels": labels,
      "segments": layout.segments.astype(np.float32).reshape(-1, 2),
      "segment_labels": layout.segment_labels.astype(np.int64),
      "ambiguous": layout.ambiguous.astype(np.float32).reshape(-1, 2),
  }
  structure = VideoStructure(
      instance_start=start, instance_end=end, core_start=core_start, core_end=core_end,
      weak_ratio=ratio.astype(np.float32), shot_starts=shot_starts, latent=latents)
  return example, structure


def generate_split(spec, split: str) -> Iterator[Dict[str, Any]]:
  """Yields the examples of a split ("train" or "test") as numpy values, in video-id order.

  Each example is exactly the "A dataset example" of docs/DESIGN.md.
  """
  spec = _spec(spec)
  for layout in video_layouts(spec, split):
    yield generate_video(spec, layout)[0]


# ---------------------------------------------------------------------------------------------
# The per-video on-disk layout (docs/DESIGN.md "Data"), so the real-layout readers run on synthetic
# data.


def write_per_video_layout(spec, out_dir: str, joint: bool = False) -> None:
  """Writes both splits in the per-video layout of docs/DESIGN.md "Data" under `out_dir`.

  `features/{train,test}/{rgb,flow}/<video>.npy` float32 [T, D] (or, when `joint`,
  `features/{train,test}/<video>.npy` [T, 2D], rgb first), `gt.json` ({"database": ...}, subsets
  train / test, Ambiguous segments labelled "Ambiguous"), `split_train.txt`, `split_test.txt`.
  Every file is written atomically.
  """
  spec = _spec(spec)
  names = class_names(spec)
  database: Dict[str, Any] = {}
  for split in SPLITS:
    video_ids = []
    for example in generate_split(spec, split):
      video_id = example["video_id"]
      folder = os.path.join(out_dir, "features", split)
      if joint:
        run_dir.write_npy(os.path.join(folder, f"{video_id}.npy"),
                          np.concatenate([example["rgb"], example["flow"]], axis=1))
      else:
        for stream in STREAMS:
          run_dir.write_npy(os.path.join(folder, stream, f"{video_id}.npy"), example[stream])
      database.update(evaluation.ground_truth_database([example], names, split))
      video_ids.append(video_id)
    run_dir.write_text(os.path.join(out_dir, f"split_{split}.txt"),
                       "".join(v + "\n" for v in video_ids))
  gt = {"version": f"assg_tf synthetic {spec.name} seed {spec.seed}", "database": database}
  run_dir.write_text(os.path.join(out_dir, "gt.json"), json.dumps(gt, indent=1))

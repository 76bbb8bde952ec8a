"""Initial seeds S = {S_c}, c = 0..C (paper 3.2.1; docs/DESIGN.md "Method").

Foreground seeds (c >= 1): for each class a video is labelled with, the segments whose
normalised CAS (`cas.localization_map`) exceeds a high threshold: "the sparse and high reliable
action regions are the peaks in the CAS activations by a relatively high threshold".

Background seeds (c = 0): the paper takes shot changes as probable background ("a background
region is likely to appear between two action durations when it comes to a scene change").
We find shot changes in the features themselves: a boundary between snippets t and t+1 is a
shot change when ||x_{t+1} - x_t|| exceeds `shot_change_ratio` times the video's median
neighbour distance. Of the two snippets at the boundary we take the one with the lower CAS
attention as the seed (the boundary often is an action's start or end, and only one side of
it is background). The paper preset (docs/DESIGN.md "Method") adds the `bg_seed_fraction`
lowest-attention segments of each video.
Background seeds never overlap foreground seeds.

The "probability" rules (`CASConfig.maps="probability"`, `bg_seed_rule="probability"`; our
departure, docs/DESIGN.md "Departures from the paper") read the CAS network's calibrated
probabilities instead: foreground where a labelled class's probability is at least
`fg_seed_threshold`; background where every labelled class's probability is below
`bg_seed_threshold`, and no higher than the `bg_seed_null_quantile` quantile of the
probabilities of the classes the video is *not* labelled with (`absent_class_level`), and no
foreground seed lies within `bg_seed_margin` segments. The absent classes show, in each video,
what "no action of this class" scores: a labelled-class probability above most of them is
evidence of the class, however small it is in absolute terms (the weak parts of an action score
far below the threshold, yet above the background: docs/RESULTS.md). Shot changes are not used:
an action's own shot starts at its first snippet, so one side of every boundary shot change is
action (docs/RESULTS.md measures what the paper rule labels background).

With both streams trained, their seeds are joined (`join_streams`, `CASConfig.joint_seeds`; our
departure, docs/DESIGN.md "Departures from the paper"): both streams train on the same seeds,
foreground where either stream's CAS seeds it, background where every stream's does. A snippet
is background only when neither stream sees an action in it (docs/RESULTS.md measures how many
weak action snippets each stream alone labels background).

Seeds are computed once per training video at full length and stored with the model as a file
(`save_seeds` / `load_seeds`): an .npz holding, per video id, the int32 [K, 2] coordinates
(segment, channel) of its seeds, channel 0 = background and channel c+1 = class c, and the
channel count under `__num_channels__`. A user's own seeds (from another CAS) in the same format
can be given instead (`--seeds_file`). `attach_seeds` joins them to a tf.data pipeline.
"""
from __future__ import annotations

import os
import zipfile
from typing import Dict

import numpy as np
import tensorflow as tf

from assg_tf import cas
from assg_tf import config as config_lib
from assg_tf import run_dir

_CHANNELS_KEY = "__num_channels__"


def foreground_seeds(loc_map, labels, mask, threshold):
  """[B, T, C] localisation map -> [B, T, C] float32: 1 where a labelled class's map is above
  `threshold`, and at its peak over the video (the video-level label says the class is there:
  its most probable snippet is seeded even when no snippet reaches the threshold; with the
  min-max map the peak is 1, always above the threshold, so this changes nothing there)."""
  real = mask[:, :, None] > 0.5
  peak = tf.reduce_max(tf.where(real, loc_map, -1.0), axis=1, keepdims=True)
  high = (loc_map > threshold) | (loc_map >= peak)
  return tf.cast(high & (labels[:, None, :] > 0.5) & real, tf.float32)


def _masked_kth(values, mask, k):
  """Per row, the k-th smallest (0-based k [B]) of the values where mask > 0."""
  ranked = tf.sort(tf.where(mask > 0.5, values, np.inf), axis=1)
  return tf.gather(ranked, tf.maximum(k, 0), batch_dims=1)


def shot_change_seeds(features, attention, mask, ratio):
  """[B, T] float32: at each shot change, the lower-attention snippet of the two beside it."""
  diff = tf.norm(features[:, 1:] - features[:, :-1], axis=-1)  # [B, T-1]
  pair_mask = mask[:, 1:] * mask[:, :-1]
  count = tf.cast(tf.reduce_sum(pair_mask, axis=1), tf.int32)
  median = _masked_kth(diff, pair_mask, (count - 1) // 2)
  change = (diff > ratio * median[:, None]) & (pair_mask > 0.5) & (count[:, None] > 0)
  left_lower = attention[:, :-1] <= attention[:, 1:]
  left = tf.pad(tf.cast(change & left_lower, tf.float32), [[0, 0], [0, 1]])
  right = tf.pad(tf.cast(change & ~left_lower, tf.float32), [[0, 0], [1, 0]])
  return tf.minimum(left + right, 1.0) * mask


def absent_class_level(loc_map, labels, mask, quantile):
  """[B]: the `quantile` of each video's map over its real segments and the classes it is not
  labelled with (of its n such values, the floor(quantile * (n - 1))-th smallest, from 0); +inf
  for a video labelled with every class, and for `quantile` >= 1 (no condition)."""
  absent = mask[:, :, None] * (1.0 - labels[:, None, :])  # [B, T, C]
  batch = tf.shape(loc_map)[0]
  values, where = tf.reshape(loc_map, [batch, -1]), tf.reshape(absent, [batch, -1])
  count = tf.cast(tf.reduce_sum(where, axis=1), tf.int32)
  k = tf.cast(tf.floor(quantile * tf.cast(count - 1, tf.float32)), tf.int32)
  level = _masked_kth(values, where, k)
  return tf.where((count > 0) & (quantile < 1.0), level, np.inf)


def probability_background_seeds(loc_map, fg, labels, mask, threshold, margin,
                                 null_quantile=1.0):
  """[B, T] float32: where every labelled class's map is below `threshold` and at most the
  video's `absent_class_level(null_quantile)`, at least `margin` segments away from every
  foreground seed (fg [B, T, C])."""
  actionness = tf.reduce_max(loc_map * labels[:, None, :], axis=-1)  # [B, T]
  null = absent_class_level(loc_map, labels, mask, null_quantile)[:, None]
  near_fg = tf.reduce_max(fg, axis=-1)[:, :, None]  # [B, T, 1]
  if margin > 0:
    near_fg = tf.nn.max_pool1d(near_fg, ksize=2 * margin + 1, strides=1, padding="SAME")
  low = (actionness < threshold) & (actionness <= null) & (near_fg[:, :, 0] < 0.5) & (
      mask > 0.5)
  return tf.cast(low, tf.float32)


def low_attention_seeds(attention, mask, fraction):
  """[B, T] float32: each video's ceil(fraction * T) lowest-attention segments (0 if fraction
  is 0)."""
  length = tf.reduce_sum(mask, axis=1)
  k = tf.cast(tf.math.ceil(fraction * length), tf.int32)
  cutoff = _masked_kth(attention, mask, k - 1)
  low = (attention <= cutoff[:, None]) & (mask > 0.5) & (k[:, None] > 0)
  return tf.cast(low, tf.float32)


@tf.function(reduce_retracing=True)
def initial_seeds(features, cas_outputs, mask, labels, cfg: config_lib.CASConfig):
  """Seeds [B, T, C+1] float32 in {0, 1} for a padded batch of whole videos (one stream).

  `cas_outputs` is the dict of `cas.CASNet` on these features; channel 0 = background.
  """
  loc_map = cas.localization_map(cas_outputs, mask, cfg.maps)
  fg = foreground_seeds(loc_map, labels, mask, cfg.fg_seed_threshold)
  if cfg.bg_seed_rule == "probability":
    bg = probability_background_seeds(loc_map, fg, labels, mask, cfg.bg_seed_threshold,
                                      cfg.bg_seed_margin, cfg.bg_seed_null_quantile)
  else:
    attention = cas_outputs["attention"]
    bg = tf.maximum(shot_change_seeds(features, attention, mask, cfg.shot_change_ratio),
                    low_attention_seeds(attention, mask, cfg.bg_seed_fraction))
  bg = bg * (1.0 - tf.reduce_max(fg, axis=-1))
  return tf.concat([bg[:, :, None], fg], axis=-1)


def to_coordinates(dense: np.ndarray) -> np.ndarray:
  """[T, C+1] seeds -> int32 [K, 2] (segment, channel) coordinates of its ones."""
  return np.argwhere(np.asarray(dense) > 0.5).astype(np.int32).reshape(-1, 2)


def to_dense(coordinates: np.ndarray, length: int, num_channels: int) -> np.ndarray:
  """int [K, 2] (segment, channel) coordinates -> float32 [T, C+1] seeds in {0, 1} (the
  inverse of `to_coordinates`; `attach_seeds` does the same inside a tf.data pipeline)."""
  dense = np.zeros([length, num_channels], np.float32)
  coordinates = np.asarray(coordinates, np.int64).reshape(-1, 2)
  dense[coordinates[:, 0], coordinates[:, 1]] = 1.0
  return dense


def join_dense(dense: np.ndarray) -> np.ndarray:
  """[S, T, C+1] seeds of S streams -> [T, C+1] seeds of all: a snippet is a foreground seed of
  a class when it is one in any stream, a background seed when it is one in every stream and no
  stream has a foreground seed there."""
  dense = np.asarray(dense) > 0.5
  fg = dense[:, :, 1:].any(axis=0)
  bg = dense[:, :, 0].all(axis=0) & ~fg.any(axis=1)
  return np.concatenate([bg[:, None], fg], axis=1).astype(np.float32)


def join_streams(per_stream: Dict[str, Dict[str, np.ndarray]],
                 num_channels: int) -> Dict[str, np.ndarray]:
  """{stream: {video_id: [K, 2] coordinates}} -> one {video_id: coordinates} for every stream
  (`join_dense`)."""
  streams = list(per_stream.values())
  joined = {}
  for video in streams[0]:  # once per training video at seed time: not a training hot path
    length = 1 + max((int(s[video][:, 0].max()) for s in streams if len(s[video])), default=-1)
    dense = np.stack([to_dense(s[video], length, num_channels) for s in streams])
    joined[video] = to_coordinates(join_dense(dense))
  return joined


def save_seeds(path: str, seeds: Dict[str, np.ndarray], num_channels: int) -> None:
  """Writes {video_id: int32 [K, 2] coordinates} atomically as an .npz file."""
  if _CHANNELS_KEY in seeds:
    raise ValueError(f"{_CHANNELS_KEY!r} is reserved and cannot be a video id")
  with run_dir.atomic_path(path, suffix=".npz") as tmp:
    with open(tmp, "wb") as f:
      np.savez_compressed(f, **{k: np.asarray(v, np.int32).reshape(-1, 2)
                                for k, v in seeds.items()},
                          **{_CHANNELS_KEY: np.int32(num_channels)})


def load_seeds(path: str, num_channels: int) -> Dict[str, np.ndarray]:
  """Reads a seeds file, checking it is one and that its channel count is C+1."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"seeds file {path} does not exist")
  try:
    with np.load(path, allow_pickle=False) as data:
      seeds = {k: data[k] for k in data.files}
  except (OSError, ValueError, zipfile.BadZipFile) as e:
    raise ValueError(f"seeds file {path} is not a readable .npz file: {e}") from e
  if _CHANNELS_KEY not in seeds:
    raise ValueError(f"seeds file {path} has no {_CHANNELS_KEY!r} entry; expected the format "
                     "written by assg_tf.seeds.save_seeds")
  found = int(seeds.pop(_CHANNELS_KEY))
  if found != num_channels:
    raise ValueError(f"seeds file {path} has {found} channels; expected {num_channels} "
                     "(background + the dataset's classes)")
  for video, coords in seeds.items():
    if coords.ndim != 2 or coords.shape[1] != 2 or not np.issubdtype(coords.dtype, np.integer):
      raise ValueError(f"seeds file {path}, video {video}: expected int [K, 2] coordinates, "
                       f"got {coords.dtype} {coords.shape}")
    if coords.size and (coords.min() < 0 or coords[:, 1].max() >= num_channels):
      raise ValueError(f"seeds file {path}, video {video}: coordinates out of range")
  return seeds


def attach_seeds(examples: tf.data.Dataset, seeds: Dict[str, np.ndarray],
                 num_channels: int) -> tf.data.Dataset:
  """Adds `seeds` float32 [T, C+1] to each example (dataset examples of docs/DESIGN.md).

  A video without seeds, or with seeds past its last segment, stops the pipeline with an error
  naming the video.
  """
  ids = sorted(seeds)
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(tf.constant(ids, tf.string),
                                          tf.range(len(ids), dtype=tf.int64)), default_value=-1)
  flat = [np.asarray(seeds[k], np.int64).reshape(-1, 2) for k in ids]
  coords = tf.RaggedTensor.from_row_lengths(
      np.concatenate(flat) if flat else np.zeros([0, 2], np.int64),
      np.array([len(c) for c in flat], np.int64))

  def add(example):
    row = table.lookup(example["video_id"])
    length = tf.shape(example["rgb"], out_type=tf.int64)[0]
    found = tf.debugging.Assert(row >= 0, ["no seeds for video", example["video_id"]])
    with tf.control_dependencies([found]):
      points = coords[tf.maximum(row, 0)]
    inside = tf.debugging.Assert(tf.reduce_all(points[:, 0] < length),
                                 ["seeds past the last segment of video", example["video_id"]])
    with tf.control_dependencies([inside]):
      dense = tf.scatter_nd(points, tf.ones([tf.shape(points)[0]]), [length, num_channels])
    return {**example, "seeds": tf.minimum(dense, 1.0)}

  return examples.map(add, num_parallel_calls=tf.data.AUTOTUNE)

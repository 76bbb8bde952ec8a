"""tf.data input pipeline: splits, uniform segment sampling, padding masks (paper 4.2,
docs/DESIGN.md "Data").

Training follows the common procedure the paper cites in 4.2 (STPN, W-TALC; BaS-Net's code):
every training video is represented by N = `DataConfig.num_segments` (400) snippets sampled
uniformly. `[0, T)` is cut into N bins, bin i = [floor(i T / N), floor((i + 1) T / N)), and
one snippet is taken per bin: at a random offset within the bin during training (a different
one every epoch: temporal jitter, as STPN / BaS-Net do), at the bin start otherwise. A video
shorter than N keeps all its T snippets, followed by N - T zero rows with mask 0 (rather than
repeating snippets, which would change how long the actions look). `indices` tells which
original snippet each row is, so seeds and grown regions can be mapped back to the video.

Evaluation uses every snippet of a video; a batch is padded to its longest video, `mask` marks
the real rows. Batches are exactly those of docs/DESIGN.md ("Batches").

Datasets come from the tfds builder `wtal` (`assg_tf/datasets/wtal`), whose examples are the
"A dataset example" of docs/DESIGN.md. RGB-only data (docs/DESIGN.md "RGB-only data"): a real
benchmark whose per-video folder has no `flow/` folders is read as its `_rgb` config
(`resolve_dataset`), and `load_split` gives those examples a `flow` of width 0, so the joint
features are the rgb channels alone and `DatasetInfo.flow_dim` is 0.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from assg_tf import config as config_lib

_EVAL_KEYS = ("segments", "segment_labels", "ambiguous")


def sample_indices(num_frames, num_segments: int, random: bool,
                   seed=None) -> Tuple[tf.Tensor, tf.Tensor]:
  """Uniform sampling of `num_segments` (N) of `num_frames` (T) snippets, as TF ops.

  Args:
    num_frames: scalar int tensor T >= 1 (the video length).
    num_segments: N, a positive Python int (the static output length).
    random: offsets uniformly at random within each bin (training) instead of the bin start.
    seed: shape [2] int tensor, the seed of `tf.random.stateless_uniform` (deterministic
      offsets); None draws from the global generator.

  Returns:
    indices: int32 [N], the snippet of each row; 0 on padding rows.
    mask: float32 [N], 1 for real rows, 0 for the padding rows of a video shorter than N.
  """
  if not isinstance(num_segments, (int, np.integer)) or num_segments <= 0:
    raise ValueError(f"num_segments={num_segments!r}: expected a positive int")
  num_frames = tf.cast(num_frames, tf.int64)
  tf.debugging.assert_positive(num_frames, message="sample_indices: num_frames must be >= 1")
  n = tf.constant(num_segments, tf.int64)
  i = tf.range(n)
  bin_start = i * num_frames // n
  if random:
    width = (i + 1) * num_frames // n - bin_start  # >= 1 when T >= N
    if seed is None:
      u = tf.random.uniform([num_segments], dtype=tf.float32)
    else:
      u = tf.random.stateless_uniform([num_segments], seed=seed, dtype=tf.float32)
    offset = tf.minimum(tf.cast(u * tf.cast(width, tf.float32), tf.int64), width - 1)
    binned = bin_start + offset
  else:
    binned = bin_start
  short = num_frames < n
  real = i < num_frames
  indices = tf.where(short, tf.where(real, i, tf.zeros_like(i)), binned)
  mask = tf.where(short, tf.cast(real, tf.float32), tf.ones([num_segments], tf.float32))
  return tf.cast(indices, tf.int32), mask


def _class_names(features) -> Tuple[str, ...]:
  """Class names of the builder's `segment_labels` Sequence(ClassLabel)."""
  feature = features["segment_labels"]
  feature = getattr(feature, "feature", feature)
  return tuple(feature.names)


def resolve_dataset(data_cfg: config_lib.DataConfig,
                    streams: Optional[Sequence[str]] = None) -> config_lib.DataConfig:
  """`data_cfg` with the dataset its feature folder holds: `thumos14` / `activitynet13` on a
  per-video folder without `flow/` folders is `thumos14_rgb` / `activitynet13_rgb`. The one
  check of a real benchmark's `manual_dir` before tfds reads it (tfds' own is an
  AssertionError).

  Raises:
    ValueError: `streams` (the streams to train) include flow and the folder has none; the
      message names the missing folder. `features.FeatureError`: no feature folder or layout.
  """
  from assg_tf import features as features_lib  # pylint: disable=g-import-not-at-top
  benchmark = config_lib.benchmark(data_cfg.dataset)
  if benchmark not in features_lib.DATASETS or not data_cfg.manual_dir:
    return data_cfg
  if data_cfg.dataset != benchmark:  # already the RGB-only config
    features_lib.detect_layout(data_cfg.manual_dir, benchmark)
    return data_cfg
  missing = features_lib.missing_flow_folder(data_cfg.manual_dir, data_cfg.dataset)
  if missing is None:
    return data_cfg
  if streams is not None and "flow" in streams:
    raise ValueError(f"--streams={','.join(streams)}: {missing} does not exist (the folder "
                     "holds RGB features only); train with --streams=rgb, or add the flow "
                     "features")
  return dataclasses.replace(data_cfg, dataset=data_cfg.dataset + config_lib.RGB_ONLY_SUFFIX)


def _with_empty_flow(example: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
  """An RGB-only example with the `flow` of docs/DESIGN.md's example, float32 [T, 0]."""
  return {**example, "flow": tf.zeros([tf.shape(example["rgb"])[0], 0], tf.float32)}


def load_split(data_cfg: config_lib.DataConfig, split: str
               ) -> Tuple[tf.data.Dataset, config_lib.DatasetInfo]:
  """Loads split `split` of tfds `wtal/<data_cfg.dataset>`, preparing it first if needed.

  Prepared data made from another `data_cfg.manual_dir` (other files) is prepared again from
  this one (the `wtal` builder's `download_and_prepare`).

  The examples come in the builder's file order (`shuffle_files=False`); training shuffles them
  in `train_dataset`. `split` may use tfds slicing ("train[:90%]"). A split whose prepared
  files hold at most `data_cfg.cache_megabytes` is cached in memory after its first pass. A real
  benchmark's `manual_dir` must hold a feature layout (`features.FeatureError` otherwise), and
  is required while the dataset is not prepared (ValueError). A folder of RGB features alone
  is read as the benchmark's `_rgb` config (`resolve_dataset`); the examples of an `_rgb`
  config get a `flow` of width 0.
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from assg_tf.datasets.wtal import wtal_dataset_builder  # pylint: disable=g-import-not-at-top,unused-import
  from assg_tf import features as features_lib  # pylint: disable=g-import-not-at-top

  data_cfg = resolve_dataset(data_cfg)  # checks the user's feature folder
  builder = tfds.builder(f"wtal/{data_cfg.dataset}", data_dir=data_cfg.data_dir)
  real = config_lib.benchmark(data_cfg.dataset) in features_lib.DATASETS
  if real and not data_cfg.manual_dir and not builder.is_prepared():
    raise ValueError(f"dataset {data_cfg.dataset} is not prepared in {builder.data_dir}: give "
                     "manual_dir (--manual_dir), the folder with your features")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=data_cfg.manual_dir))
  # Without autotuning, as every dataset made from it: the statistics, seeds and ground truth
  # read it whole with iterators of their own (`_without_autotuning`).
  dataset = _without_autotuning(builder.as_dataset(split=split, shuffle_files=False))
  features = builder.info.features
  if "flow" not in features:  # an RGB-only config
    dataset = dataset.map(_with_empty_flow)
  try:
    num_bytes = int(builder.info.splits[split].num_bytes)
  except (KeyError, ValueError, AttributeError, TypeError):
    num_bytes = None
  if num_bytes and num_bytes <= data_cfg.cache_megabytes * 2 ** 20:
    # Decoded once, then read from memory every epoch: on a 2-core machine the input pipeline
    # otherwise takes its decoding time from the training step's cores.
    dataset = dataset.cache()
    # Filled now, in one full pass: a cache that a partial read (the first example, below) left
    # unfinished was read back truncated by a later iterator (a resumed run once evaluated 1
    # test video of 60).
    dataset.reduce(np.int64(0), lambda count, _: count + 1)
  try:
    num_examples = int(builder.info.splits[split].num_examples)
  except (KeyError, ValueError, AttributeError):
    num_examples = None
  info = config_lib.DatasetInfo(class_names=_class_names(features),
                                rgb_dim=int(features["rgb"].shape[-1]),
                                flow_dim=int(features["flow"].shape[-1]) if "flow" in features
                                else 0,
                                num_examples=num_examples,
                                seconds_per_segment=seconds_per_segment(dataset))
  return dataset, info


def seconds_per_segment(examples: tf.data.Dataset) -> Optional[float]:
  """delta of a split, read from its first example (None for an empty split): every video of
  a dataset has the time base of its features."""
  first = next(iter(examples), None)
  return None if first is None else float(first["seconds_per_segment"])


def example_signature(num_classes: int, rgb_dim: int, flow_dim: int
                      ) -> Dict[str, tf.TensorSpec]:
  """The TensorSpecs of one dataset example ("A dataset example" of docs/DESIGN.md)."""
  return {
      "video_id": tf.TensorSpec([], tf.string),
      "rgb": tf.TensorSpec([None, rgb_dim], tf.float32),
      "flow": tf.TensorSpec([None, flow_dim], tf.float32),
      "num_segments": tf.TensorSpec([], tf.int32),
      "seconds_per_segment": tf.TensorSpec([], tf.float32),
      "duration": tf.TensorSpec([], tf.float32),
      "labels": tf.TensorSpec([num_classes], tf.float32),
      "segments": tf.TensorSpec([None, 2], tf.float32),
      "segment_labels": tf.TensorSpec([None], tf.int64),
      "ambiguous": tf.TensorSpec([None, 2], tf.float32),
  }


def from_examples(examples: Callable[[], Iterable[Dict[str, Any]]], num_classes: int,
                  rgb_dim: int, flow_dim: int) -> tf.data.Dataset:
  """A dataset of in-memory examples (numpy values), without tfds.

  `examples` is called for every iteration (e.g. `lambda: synthetic.generate_split(spec,
  "train")`, or `lambda: my_list`), so the dataset can be iterated more than once.
  """
  signature = example_signature(num_classes, rgb_dim, flow_dim)
  return tf.data.Dataset.from_generator(
      lambda: ({k: example[k] for k in signature} for example in examples()),
      output_signature=signature)


def _features(example: Dict[str, tf.Tensor]) -> tf.Tensor:
  """[T, D_rgb + D_flow], rgb channels first (`config.stream_slice` takes them apart)."""
  return tf.concat([tf.cast(example["rgb"], tf.float32),
                    tf.cast(example["flow"], tf.float32)], axis=-1)


def _zero_padding(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
  """Zeroes the rows of `values` [N, ...] where mask [N] is 0."""
  keep = tf.reshape(mask > 0, tf.concat([tf.shape(mask), tf.ones([tf.rank(values) - 1],
                                                                  tf.int32)], 0))
  return tf.where(keep, values, tf.zeros_like(values))


def train_dataset(examples: tf.data.Dataset, num_segments: int, batch_size: int, seed: int,
                  extra_sequence_keys: Sequence[str] = (), shuffle_buffer: int = 1024,
                  repeat: bool = True, skip: int = 0,
                  streams: Sequence[str] = config_lib.STREAMS) -> tf.data.Dataset:
  """Training batches (docs/DESIGN.md "Batches"): N sampled snippets per video.

  Shuffles videos (buffer `shuffle_buffer`, reshuffled every epoch), samples N snippets with
  random offsets within bins, and batches with `drop_remainder=True` so every batch has the
  static shape [batch_size, N, D] a tf.distribute strategy splits evenly across replicas.
  Deterministic given `seed`: the shuffle and the per-video offsets (stateless, from a
  `tf.data.Dataset.random(seed)` stream zipped after `repeat`, so each epoch gets new ones).
  Both also depend on TensorFlow's global seed (tf.data combines it with `seed`), which
  `stages.train_and_evaluate` sets from the same `DataConfig.seed`.

  Args:
    examples: dataset of examples ("A dataset example" of docs/DESIGN.md).
    num_segments: N.
    batch_size: global batch size B.
    seed: seed of the shuffle and the sampling offsets.
    extra_sequence_keys: further per-time keys ([T, ...]) of the examples to gather with the
      same indices (padding rows zero), e.g. per-video seeds.
    shuffle_buffer: videos in the shuffle buffer.
    repeat: repeat forever (training); False gives one epoch.
    skip: batches to leave out: a training run resumed after `skip` steps continues exactly
      the batches of the uninterrupted run (the videos are read and shuffled again, but not
      sampled).
    streams: the streams whose features the batches carry, concatenated in this order; a
      training stage takes its own stream only, which halves the copying of a two-stream
      pipeline (the sampled indices do not depend on it).

  Returns:
    Batches {features [B, N, D of `streams`] float32, mask [B, N] float32, labels [B, C]
    float32, indices [B, N] int32, video_id [B] string, and each extra key [B, N, ...]}.
  """
  if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
    raise ValueError(f"batch_size={batch_size!r}: expected a positive int")
  if not streams or any(s not in config_lib.STREAMS for s in streams):
    raise ValueError(f"streams={tuple(streams)!r}: expected a non-empty sequence of "
                     f"{config_lib.STREAMS}")
  missing = [k for k in extra_sequence_keys if k not in examples.element_spec]
  if missing:
    raise ValueError(f"extra_sequence_keys {missing} are not keys of the examples; they have "
                     f"{sorted(examples.element_spec)}")
  extra = tuple(extra_sequence_keys)

  def sample(example, random_value):
    seed_pair = tf.stack([random_value, tf.constant(seed, tf.int64)])
    num_frames = tf.shape(example["rgb"], out_type=tf.int64)[0]
    indices, mask = sample_indices(num_frames, num_segments, random=True, seed=seed_pair)
    batch = {
        # Gather first, then concatenate: copies N rows, not T.
        "features": _zero_padding(tf.concat(
            [tf.cast(tf.gather(example[s], indices), tf.float32) for s in streams], axis=-1),
                                  mask),
        "mask": mask,
        "labels": tf.cast(example["labels"], tf.float32),
        "indices": indices,
        "video_id": example["video_id"],
    }
    for key in extra:
      batch[key] = _zero_padding(tf.gather(example[key], indices), mask)
    return batch

  dataset = examples.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
  if repeat:
    dataset = dataset.repeat()
  dataset = tf.data.Dataset.zip((dataset, tf.data.Dataset.random(seed=seed)))
  dataset = dataset.skip(skip * batch_size)
  dataset = dataset.map(sample, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  dataset = dataset.batch(batch_size, drop_remainder=True)
  return _without_autotuning(dataset.prefetch(tf.data.AUTOTUNE))


def eval_dataset(examples: tf.data.Dataset, batch_size: int) -> tf.data.Dataset:
  """Evaluation batches: every snippet, padded to the longest video of the batch.

  Videos of similar length are batched together (`tf.data.Dataset.bucket_by_sequence_length`,
  buckets `EVAL_BUCKET_RATIO` apart): in the file order, THUMOS'14's videos (87 to 2,615
  segments) padded to their batch's longest cost 2.6x (training videos) to 3.9x (test videos)
  the network passes of their real segments in batches of 16, by length 1.2x. The batches
  come in the order their bucket fills, deterministic for a given order of the examples; every
  video comes once. Predictions do not depend on the batching (`Predictor` masks the padding).

  Returns batches {features [B, T_max, D] float32, mask [B, T_max] float32, labels [B, C],
  video_id [B], num_segments [B] int32, seconds_per_segment [B] float32, duration [B] float32,
  segments [B, K_max, 2] float32, segment_labels [B, K_max] int64 (-1 on padding), num_gt [B]
  int32, ambiguous [B, A_max, 2] float32, num_ambiguous [B] int32}. The last batch may be
  smaller (no drop_remainder): every video is evaluated once.
  """
  if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
    raise ValueError(f"batch_size={batch_size!r}: expected a positive int")

  def prepare(example):
    num_frames = tf.shape(example["rgb"])[0]
    segments = tf.reshape(tf.cast(example["segments"], tf.float32), [-1, 2])
    ambiguous = tf.reshape(tf.cast(example["ambiguous"], tf.float32), [-1, 2])
    return {
        "features": _features(example),
        "mask": tf.ones([num_frames], tf.float32),
        "labels": tf.cast(example["labels"], tf.float32),
        "video_id": example["video_id"],
        "num_segments": tf.cast(num_frames, tf.int32),
        "seconds_per_segment": tf.cast(example["seconds_per_segment"], tf.float32),
        "duration": tf.cast(example["duration"], tf.float32),
        "segments": segments,
        "segment_labels": tf.cast(example["segment_labels"], tf.int64),
        "num_gt": tf.shape(segments)[0],
        "ambiguous": ambiguous,
        "num_ambiguous": tf.shape(ambiguous)[0],
    }

  dataset = examples.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  padding = {key: tf.constant(0, spec.dtype) if spec.dtype != tf.string
             else tf.constant("", tf.string)
             for key, spec in dataset.element_spec.items()}
  padding["segment_labels"] = tf.constant(-1, tf.int64)
  boundaries = _eval_bucket_boundaries()
  dataset = dataset.bucket_by_sequence_length(
      lambda batch: batch["num_segments"], boundaries, [batch_size] * (len(boundaries) + 1),
      padding_values=padding, drop_remainder=False)
  return _without_autotuning(dataset.prefetch(tf.data.AUTOTUNE))


def _without_autotuning(dataset: tf.data.Dataset) -> tf.data.Dataset:
  """`dataset` with tf.data's autotuning turned off.

  An iterator with autotuning runs an optimisation thread that wakes at growing intervals (up to
  a minute). In TensorFlow 2.21 deleting the iterator sometimes waits for that thread's next
  wake-up instead of stopping it: the end of a training stage stalled for up to 59 s
  (`benchmarks/bench_iterator_teardown.py`, docs/RESULTS.md §3.1). Without
  autotuning, `tf.data.AUTOTUNE` keeps tf.data's defaults: a parallel map runs one call per
  core, and a prefetch buffer grows while its consumer waits.
  """
  options = tf.data.Options()
  options.autotune.enabled = False
  return dataset.with_options(options)


# Neighbouring evaluation buckets' lengths differ by at most this factor: a batch pads its
# videos to less than 1.25x their length. The 63 buckets (lengths up to 2^20) each hold at
# most one unfinished batch at a time.
EVAL_BUCKET_RATIO = 1.25


def _eval_bucket_boundaries(largest: int = 2 ** 20) -> List[int]:
  """Bucket boundaries 1, 2, ... growing by at least one and at most EVAL_BUCKET_RATIO."""
  bounds = [1]
  while bounds[-1] < largest:
    bounds.append(max(bounds[-1] + 1, int(bounds[-1] * EVAL_BUCKET_RATIO)))
  return bounds

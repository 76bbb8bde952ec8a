"""Tests of assg_tf.input_pipeline: uniform sampling, training and evaluation batches, and the
ground-truth database."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from assg_tf import config
from assg_tf import evaluation
from assg_tf import input_pipeline
from assg_tf import synthetic

TINY = synthetic.SPECS["synthetic"]
D = TINY.feature_dim


@pytest.fixture(scope="module")
def train_examples():
  return list(synthetic.generate_split(TINY, "train"))[:12]


def _dataset(examples, extra=None):
  """A dataset of the examples, optionally with per-time keys added by `extra(example)`."""
  ds = input_pipeline.from_examples(lambda: examples, TINY.num_classes, D, D)
  if extra is not None:
    ds = ds.map(lambda ex: {**ex, **extra(ex)})
  return ds


def _sample(t, n, random=False, seed=None):
  indices, mask = input_pipeline.sample_indices(
      tf.constant(t), n, random, None if seed is None else tf.constant(seed, tf.int64))
  return indices.numpy(), mask.numpy()


def test_sample_indices_known_cases():
  indices, mask = _sample(4, 4)
  np.testing.assert_array_equal(indices, [0, 1, 2, 3])
  np.testing.assert_array_equal(mask, [1, 1, 1, 1])
  indices, mask = _sample(8, 4)  # T = 2N: bin starts
  np.testing.assert_array_equal(indices, [0, 2, 4, 6])
  indices, _ = _sample(10, 4)  # bins [0,2) [2,5) [5,7) [7,10)
  np.testing.assert_array_equal(indices, [0, 2, 5, 7])
  indices, mask = _sample(3, 5)  # T < N: all snippets, then padding
  np.testing.assert_array_equal(indices, [0, 1, 2, 0, 0])
  np.testing.assert_array_equal(mask, [1, 1, 1, 0, 0])
  assert indices.dtype == np.int32 and mask.dtype == np.float32
  indices, mask = _sample(3, 5, random=True, seed=[1, 2])  # randomness does not pad otherwise
  np.testing.assert_array_equal(indices, [0, 1, 2, 0, 0])
  np.testing.assert_array_equal(mask, [1, 1, 1, 0, 0])
  indices, _ = _sample(6, 6, random=True, seed=[3, 4])  # bins of width 1
  np.testing.assert_array_equal(indices, np.arange(6))


def test_sample_indices_random_within_bins_and_seeded():
  t, n = 1003, 10
  starts = np.arange(n) * t // n
  ends = (np.arange(n) + 1) * t // n
  seen = []
  for seed in range(20):
    indices, mask = _sample(t, n, random=True, seed=[seed, 0])
    assert np.all(indices >= starts) and np.all(indices < ends)
    np.testing.assert_array_equal(mask, np.ones(n))
    seen.append(indices)
  seen = np.stack(seen)
  assert len({tuple(s) for s in seen}) == 20  # different seeds, different offsets
  assert seen.min(0).tolist() != seen.max(0).tolist()
  again, _ = _sample(t, n, random=True, seed=[7, 0])
  np.testing.assert_array_equal(again, seen[7])
  # Offsets cover the bins: over 20 draws, both halves of every bin are hit.
  middle = (starts + ends) // 2
  assert np.all((seen < middle).any(0)) and np.all((seen >= middle).any(0))


def test_sample_indices_bad_input():
  with pytest.raises(ValueError, match="num_segments=0"):
    input_pipeline.sample_indices(tf.constant(5), 0, False)
  with pytest.raises(tf.errors.InvalidArgumentError, match="num_frames must be >= 1"):
    input_pipeline.sample_indices(tf.constant(0), 4, False)


def test_train_batches_shapes_and_contents(train_examples):
  n, b = 48, 4
  by_id = {ex["video_id"]: ex for ex in train_examples}
  ds = input_pipeline.train_dataset(
      _dataset(train_examples, lambda ex: {"frame": tf.range(tf.shape(ex["rgb"])[0]) + 1}),
      num_segments=n, batch_size=b, seed=3, extra_sequence_keys=("frame",), repeat=False)
  spec = ds.element_spec
  assert spec["features"].shape.as_list() == [b, n, 2 * D]
  assert spec["mask"].shape.as_list() == [b, n] and spec["mask"].dtype == tf.float32
  assert spec["labels"].shape.as_list() == [b, TINY.num_classes]
  assert spec["indices"].shape.as_list() == [b, n] and spec["indices"].dtype == tf.int32
  assert spec["video_id"].shape.as_list() == [b] and spec["video_id"].dtype == tf.string
  batches = list(ds.as_numpy_iterator())
  assert len(batches) == len(train_examples) // b
  ids = [v.decode() for batch in batches for v in batch["video_id"]]
  assert sorted(ids) == sorted(by_id)  # one epoch, every video once, shuffled
  for batch in batches:
    for row, video_id in enumerate(batch["video_id"]):
      ex = by_id[video_id.decode()]
      t, idx = ex["num_segments"], batch["indices"][row]
      bins = np.arange(n + 1) * t // n
      assert np.all(idx >= bins[:-1]) and np.all(idx < bins[1:])  # T >= 60 >= N
      np.testing.assert_array_equal(batch["mask"][row], np.ones(n))
      np.testing.assert_array_equal(batch["features"][row, :, :D], ex["rgb"][idx])
      np.testing.assert_array_equal(batch["features"][row, :, D:], ex["flow"][idx])
      np.testing.assert_array_equal(batch["labels"][row], ex["labels"])
      np.testing.assert_array_equal(batch["frame"][row], idx + 1)


def test_train_batches_pad_short_videos(train_examples):
  n = 256  # longer than every tiny video (<= 200 snippets)
  ds = input_pipeline.train_dataset(
      _dataset(train_examples[:4], lambda ex: {"frame": tf.range(tf.shape(ex["rgb"])[0]) + 1}),
      num_segments=n, batch_size=2, seed=0, extra_sequence_keys=("frame",), repeat=False)
  by_id = {ex["video_id"]: ex for ex in train_examples}
  for batch in ds.as_numpy_iterator():
    for row, video_id in enumerate(batch["video_id"]):
      ex = by_id[video_id.decode()]
      t = ex["num_segments"]
      np.testing.assert_array_equal(batch["mask"][row], np.arange(n) < t)
      np.testing.assert_array_equal(batch["indices"][row, :t], np.arange(t))
      np.testing.assert_array_equal(batch["indices"][row, t:], 0)
      np.testing.assert_array_equal(batch["features"][row, :t, D:], ex["flow"])
      np.testing.assert_array_equal(batch["features"][row, t:], 0)
      np.testing.assert_array_equal(batch["frame"][row, t:], 0)


def test_train_batches_deterministic_and_new_offsets_each_epoch(train_examples):
  def first_batches(seed, count):
    ds = input_pipeline.train_dataset(_dataset(train_examples), 32, 4, seed=seed)
    return list(ds.take(count).as_numpy_iterator())

  a, b, c = first_batches(5, 6), first_batches(5, 6), first_batches(6, 6)
  for x, y in zip(a, b):
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])
  assert any(not np.array_equal(x["indices"], y["indices"]) or
             not np.array_equal(x["video_id"], y["video_id"]) for x, y in zip(a, c))
  # 6 batches of 4 = two epochs of 12 videos: each video is sampled twice, differently.
  rows = {}
  for batch in a:
    for video_id, idx in zip(batch["video_id"], batch["indices"]):
      rows.setdefault(video_id, []).append(idx)
  assert all(len(r) == 2 for r in rows.values())
  assert all(not np.array_equal(r[0], r[1]) for r in rows.values())


def test_train_batches_skip_continues_the_same_stream(train_examples):
  # A resumed run (skip = steps done) sees exactly the batches an uninterrupted one does,
  # across epochs (12 videos, batches of 4: batch 5 is in the third epoch).
  def batches(skip, count):
    ds = input_pipeline.train_dataset(_dataset(train_examples), 32, 4, seed=5, skip=skip)
    return list(ds.take(count).as_numpy_iterator())

  whole, resumed = batches(0, 9), batches(5, 4)
  for x, y in zip(whole[5:], resumed):
    for key in x:
      np.testing.assert_array_equal(x[key], y[key])


def test_a_stage_takes_its_own_stream_from_the_same_samples(train_examples):
  both = input_pipeline.train_dataset(_dataset(train_examples), 32, 4, seed=5)
  flow = input_pipeline.train_dataset(_dataset(train_examples), 32, 4, seed=5,
                                      streams=("flow",))
  for x, y in zip(both.take(3).as_numpy_iterator(), flow.take(3).as_numpy_iterator()):
    np.testing.assert_array_equal(y["indices"], x["indices"])
    np.testing.assert_array_equal(y["features"], x["features"][..., D:])


def test_train_dataset_bad_input(train_examples):
  with pytest.raises(ValueError, match=r"streams=\('depth',\): expected a non-empty sequence"):
    input_pipeline.train_dataset(_dataset(train_examples), 8, 2, seed=0, streams=("depth",))
  with pytest.raises(ValueError, match=r"extra_sequence_keys \['seeds'\]"):
    input_pipeline.train_dataset(_dataset(train_examples), 8, 2, seed=0,
                                 extra_sequence_keys=("seeds",))
  with pytest.raises(ValueError, match="batch_size=0"):
    input_pipeline.train_dataset(_dataset(train_examples), 8, 0, seed=0)


def test_eval_batches_full_length_padded(train_examples):
  examples = train_examples[:5]
  assert [ex["num_segments"] for ex in examples] == [170, 148, 132, 130, 148]
  batches = list(input_pipeline.eval_dataset(_dataset(examples), batch_size=2)
                 .as_numpy_iterator())
  # Buckets [121, 151) and [151, 188): the four videos of 130-148 segments fill two batches
  # in their order; the one of 170 comes last, alone (no drop_remainder).
  order = [[1, 2], [3, 4], [0]]
  assert [[v.decode() for v in b["video_id"]] for b in batches] == [
      [examples[i]["video_id"] for i in rows] for rows in order]
  for batch, rows in zip(batches, order):
    longest = max(examples[i]["num_segments"] for i in rows)
    assert batch["features"].shape[1:] == (longest, 2 * D)
    max_gt = max(len(examples[i]["segment_labels"]) for i in rows)
    assert batch["segments"].shape[1:] == (max_gt, 2)
    for row, i in enumerate(rows):
      ex = examples[i]
      t, k = ex["num_segments"], len(ex["segment_labels"])
      assert batch["num_segments"][row] == t and batch["num_segments"].dtype == np.int32
      np.testing.assert_array_equal(batch["mask"][row], np.arange(longest) < t)
      np.testing.assert_array_equal(batch["features"][row, :t, :D], ex["rgb"])
      np.testing.assert_array_equal(batch["features"][row, :t, D:], ex["flow"])
      np.testing.assert_array_equal(batch["features"][row, t:], 0)
      assert batch["seconds_per_segment"][row] == pytest.approx(0.64)
      assert batch["duration"][row] == pytest.approx(ex["duration"])
      np.testing.assert_array_equal(batch["labels"][row], ex["labels"])
      assert batch["num_gt"][row] == k and batch["num_ambiguous"][row] == 0
      np.testing.assert_array_equal(batch["segments"][row, :k], ex["segments"])
      np.testing.assert_array_equal(batch["segment_labels"][row, :k], ex["segment_labels"])
      np.testing.assert_array_equal(batch["segment_labels"][row, k:], -1)


def test_eval_buckets_pad_less_than_their_ratio():
  bounds = input_pipeline._eval_bucket_boundaries()
  assert bounds[:10] == [1, 2, 3, 4, 5, 6, 7, 8, 10, 12] and bounds[-1] >= 2 ** 20
  # A video of a bucket's shortest length is padded to less than EVAL_BUCKET_RATIO times it.
  assert all(hi - 1 < lo * input_pipeline.EVAL_BUCKET_RATIO for lo, hi in zip(bounds, bounds[1:]))


def test_training_and_evaluation_batches_come_without_tf_data_autotuning(train_examples):
  # Deleting an autotuned iterator can wait up to a minute (input_pipeline._without_autotuning).
  examples = _dataset(train_examples[:4])
  autotuned = tf.data.Options()
  autotuned.autotune.enabled = True
  examples = examples.with_options(autotuned)  # a reader's own choice must not win
  for dataset in (input_pipeline.train_dataset(examples, 8, 2, seed=0),
                  input_pipeline.eval_dataset(examples, 2)):
    assert dataset.options().autotune.enabled is False


def test_ground_truth_database_from_dataset(train_examples):
  """evaluation.ground_truth_database reads the examples of a tf.data pipeline."""
  ds = _dataset(train_examples[:3])
  database = evaluation.ground_truth_database(ds, synthetic.class_names(TINY), "train")
  assert list(database) == [ex["video_id"] for ex in train_examples[:3]]
  for ex in train_examples[:3]:
    entry = database[ex["video_id"]]
    assert entry["duration"] == pytest.approx(ex["duration"])
    assert [a["label"] for a in entry["annotations"]] == [
        f"class_{c:02d}" for c in ex["segment_labels"]]
    np.testing.assert_allclose([a["segment"] for a in entry["annotations"]], ex["segments"],
                               atol=1e-6)


def test_load_split_through_the_tfds_builder(tmp_path):
  """The real path: tfds `wtal/synthetic` prepared into a temporary data_dir."""
  data_cfg = config.DataConfig(dataset="synthetic", data_dir=str(tmp_path))
  test, info = input_pipeline.load_split(data_cfg, "test")
  train, train_info = input_pipeline.load_split(data_cfg, "train")  # already prepared
  validation, validation_info = input_pipeline.load_split(data_cfg, "validation")
  assert info.class_names == tuple(synthetic.class_names(TINY))
  assert info.rgb_dim == info.flow_dim == D
  assert info.num_examples == TINY.num_test_videos
  assert train_info.num_examples + validation_info.num_examples == TINY.num_train_videos
  assert all(split.options().autotune.enabled is False for split in (test, train, validation))
  expected = {ex["video_id"]: ex for ex in synthetic.generate_split(TINY, "test")}
  got = list(test.as_numpy_iterator())
  assert sorted(ex["video_id"].decode() for ex in got) == sorted(expected)
  for ex in got:
    want = expected[ex["video_id"].decode()]
    for key in ("rgb", "flow", "labels", "segments", "segment_labels", "ambiguous"):
      np.testing.assert_array_equal(ex[key], want[key], err_msg=key)
    assert ex["num_segments"] == want["num_segments"]
    assert ex["duration"] == pytest.approx(want["duration"])
  train_ids = {ex["video_id"] for ex in train.as_numpy_iterator()}
  assert not train_ids & {ex["video_id"] for ex in validation.as_numpy_iterator()}
  batch = next(iter(input_pipeline.train_dataset(train, 40, 8, seed=0)))
  assert batch["features"].shape == (8, 40, 2 * D)
  assert batch["labels"].shape == (8, TINY.num_classes)
  eval_batch = next(iter(input_pipeline.eval_dataset(test, 4)))
  assert eval_batch["segment_labels"].dtype == tf.int64


def test_load_split_reads_the_manual_dir_it_is_given(tmp_path):
  """Issue 11: a second --manual_dir used to be ignored once the config was prepared."""
  dummy = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "datasets",
                       "wtal", "dummy_data", "thumos14_per_video")
  first, second = tmp_path / "first", tmp_path / "second"
  shutil.copytree(dummy, first)
  shutil.copytree(dummy, second)
  for name in os.listdir(second / "features" / "test" / "flow"):  # the wrong width
    np.save(second / "features" / "test" / "flow" / name, np.ones([3, 256], np.float32))
  cfg = config.DataConfig(dataset="thumos14", manual_dir=str(first), data_dir=str(tmp_path))
  _, info = input_pipeline.load_split(cfg, "test")
  assert info.num_examples == 2 and info.rgb_dim == 1024
  with pytest.raises(ValueError, match=r"flow.*\.npy.*1024"):
    input_pipeline.load_split(config.DataConfig(dataset="thumos14", manual_dir=str(second),
                                                data_dir=str(tmp_path)), "test")


def test_load_split_checks_the_feature_folder_before_tfds(tmp_path):
  from assg_tf import features
  missing = str(tmp_path / "missing")
  with pytest.raises(features.FeatureError, match=f"feature folder {missing} does not exist"):
    input_pipeline.load_split(config.DataConfig(dataset="thumos14", manual_dir=missing,
                                                data_dir=str(tmp_path / "tfds")), "train")
  with pytest.raises(ValueError, match="dataset activitynet13 is not prepared in .*: give "
                     r"manual_dir \(--manual_dir\), the folder with your features"):
    input_pipeline.load_split(config.DataConfig(dataset="activitynet13",
                                                data_dir=str(tmp_path / "tfds")), "train")


def test_rgb_only_folder_is_the_rgb_dataset_with_a_flow_of_width_zero(tmp_path):
  """docs/DESIGN.md "RGB-only data": a per-video folder without flow/ folders (what
  extract_features writes) loads as thumos14_rgb; its examples and batches carry no flow."""
  rgb_only = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "datasets", "wtal", "dummy_data", "thumos14_rgb")
  cfg = config.DataConfig(dataset="thumos14", manual_dir=rgb_only, data_dir=str(tmp_path))
  resolved = input_pipeline.resolve_dataset(cfg, streams=("rgb",))
  assert resolved.dataset == "thumos14_rgb" and resolved.manual_dir == rgb_only
  assert input_pipeline.resolve_dataset(resolved) == resolved
  with pytest.raises(ValueError, match=(
      f"--streams=rgb,flow: {rgb_only}/features/train/flow does not exist \\(the folder "
      r"holds RGB features only\); train with --streams=rgb")):
    input_pipeline.resolve_dataset(cfg, streams=("rgb", "flow"))
  test, info = input_pipeline.load_split(cfg, "test")
  assert (info.rgb_dim, info.flow_dim, info.feature_dim, info.num_examples) == (1024, 0, 1024, 2)
  for ex in test.as_numpy_iterator():
    assert ex["flow"].shape == (ex["num_segments"], 0) and ex["flow"].dtype == np.float32
    np.testing.assert_array_equal(ex["rgb"], np.load(
        os.path.join(rgb_only, "features", "test", "rgb", ex["video_id"].decode() + ".npy")))
  batch = next(iter(input_pipeline.eval_dataset(test, 2)))
  assert batch["features"].shape[-1] == 1024
  batch = next(iter(input_pipeline.train_dataset(test, 8, 2, seed=0)))
  assert batch["features"].shape == (2, 8, 1024)
  # a two-stream folder is read as it is
  two_streams = os.path.join(os.path.dirname(rgb_only), "thumos14_per_video")
  assert input_pipeline.resolve_dataset(
      config.DataConfig(dataset="thumos14", manual_dir=two_streams), ("rgb", "flow")).dataset == (
          "thumos14")

"""Tests of the tfds builder `wtal`: every config, every feature layout (docs/DESIGN.md "Data")."""
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow_datasets as tfds

from assg_tf import features
from assg_tf import synthetic
from assg_tf.datasets.wtal import wtal_dataset_builder

DUMMY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dummy_data")
Builder = wtal_dataset_builder.Builder


def _synthetic_splits(name):
  spec = synthetic.SPECS[name]
  ids = [e["video_id"] for e in synthetic.generate_split(spec, "train")]
  held_out = sum(map(wtal_dataset_builder.in_validation, ids))
  assert 0 < held_out < len(ids)
  return {"train": len(ids) - held_out, "validation": held_out,
          "test": sum(1 for _ in synthetic.generate_split(spec, "test"))}


class SyntheticTest(tfds.testing.DatasetBuilderTestCase):
  """No manual_dir: the test case hands the builder a manual_dir that raises if touched."""
  DATASET_CLASS = Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["synthetic"]
  EXAMPLE_DIR = DUMMY
  SPLITS = _synthetic_splits("synthetic")


# Each dummy folder: 3 training videos of which one is held out, 2 test videos (see
# dummy_data/make_dummy_data.py).
_REAL_SPLITS = {"train": 2, "validation": 1, "test": 2}


class Thumos14PerVideoTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["thumos14"]
  EXAMPLE_DIR = os.path.join(DUMMY, "thumos14_per_video")
  SPLITS = _REAL_SPLITS


class Thumos14JointTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["thumos14"]
  EXAMPLE_DIR = os.path.join(DUMMY, "thumos14_joint")
  SPLITS = _REAL_SPLITS


class Thumos14WtalcTest(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["thumos14"]
  EXAMPLE_DIR = os.path.join(DUMMY, "thumos14_wtalc")
  SPLITS = _REAL_SPLITS


class Thumos14RgbTest(tfds.testing.DatasetBuilderTestCase):
  """RGB features alone: no flow/ folders, as `python -m assg_tf.extract_features` writes."""
  DATASET_CLASS = Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["thumos14_rgb"]
  EXAMPLE_DIR = os.path.join(DUMMY, "thumos14_rgb")
  SPLITS = _REAL_SPLITS


class ActivityNet13Test(tfds.testing.DatasetBuilderTestCase):
  DATASET_CLASS = Builder
  BUILDER_CONFIG_NAMES_TO_TEST = ["activitynet13"]
  EXAMPLE_DIR = os.path.join(DUMMY, "activitynet13")
  SPLITS = _REAL_SPLITS


def _prepare(config, data_dir, manual_dir=None):
  builder = tfds.builder(f"wtal/{config}", data_dir=str(data_dir))
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
  return builder


def test_held_out_videos_are_a_stable_hash():
  # The rule documented in the builder: SHA-256's first 8 bytes, big-endian, % 10 == 0.
  assert wtal_dataset_builder.in_validation("video_validation_0000053")
  assert wtal_dataset_builder.in_validation("v_D18b2IZpxk0")
  assert not wtal_dataset_builder.in_validation("video_validation_0000051")
  ids = [f"video_{i}" for i in range(2000)]
  assert 0.08 < np.mean([wtal_dataset_builder.in_validation(v) for v in ids]) < 0.12


def test_only_real_configs_declare_a_manual_download(tmp_path):
  assert Builder(config="synthetic", data_dir=str(tmp_path)).MANUAL_DOWNLOAD_INSTRUCTIONS is None
  for config in ("thumos14", "activitynet13", "thumos14_rgb", "activitynet13_rgb"):
    text = Builder(config=config, data_dir=str(tmp_path)).MANUAL_DOWNLOAD_INSTRUCTIONS
    assert "features/<sub>/rgb/<video>.npy" in text and features.WTALC_FEATURES in text


def test_real_examples_match_the_reader(tmp_path):
  manual = os.path.join(DUMMY, "thumos14_wtalc")
  builder = _prepare("thumos14", tmp_path, manual)
  names = builder.info.features["segment_labels"].feature.names
  assert names == list(features.class_names("thumos14"))
  expected = {e["video_id"]: e for e in features.read_videos(manual, "thumos14", "test", names)}
  got = list(tfds.as_numpy(builder.as_dataset(split="test")))
  assert sorted(e["video_id"].decode() for e in got) == sorted(expected)
  for ex in got:
    want = expected[ex["video_id"].decode()]
    assert ex["rgb"].shape == (want["num_segments"], 1024)
    for key in ("rgb", "flow", "labels", "segments", "segment_labels", "ambiguous"):
      np.testing.assert_array_equal(ex[key], want[key])
    for key in ("num_segments", "seconds_per_segment", "duration"):
      assert ex[key] == want[key]
  (held_out,) = tfds.as_numpy(builder.as_dataset(split="validation"))
  assert held_out["video_id"] == b"video_validation_0000053"


def test_failed_generation_leaves_no_prepared_folder(tmp_path):
  manual = tmp_path / "manual"
  shutil.copytree(os.path.join(DUMMY, "thumos14_per_video"), manual)
  bad = manual / "features" / "test" / "flow" / "video_test_0000278.npy"
  good = np.load(bad)
  broken = good.copy()
  broken[1, :5] = np.nan
  np.save(bad, broken)
  data_dir = tmp_path / "data"
  with pytest.raises(ValueError, match=r"video_test_0000278\.npy: 5 NaN/inf values"):
    _prepare("thumos14", data_dir, str(manual))
  config_dir = data_dir / "wtal" / "thumos14"
  assert not (config_dir / "1.0.0").exists()
  assert not config_dir.exists() or not list(config_dir.iterdir())  # no incomplete.* left
  assert not Builder(config="thumos14", data_dir=str(data_dir)).is_prepared()
  np.save(bad, good)  # fixed: the next run prepares from scratch
  builder = _prepare("thumos14", data_dir, str(manual))
  assert builder.info.splits["test"].num_examples == 2


def test_folder_without_a_layout_lists_the_expected_paths(tmp_path):
  manual = tmp_path / "manual"
  manual.mkdir()
  (manual / "notes.txt").write_text("not features")
  with pytest.raises(ValueError, match=r"no feature layout found") as err:
    _prepare("activitynet13", tmp_path / "data", str(manual))
  assert str(manual / "features" / "training" / "rgb" / "<video>.npy") in str(err.value)


def _test_rgb(builder):
  return {e["video_id"].decode(): e["rgb"] for e in tfds.as_numpy(builder.as_dataset(split="test"))}


def test_another_manual_dir_is_prepared_again_not_silently_ignored(tmp_path):
  """docs/DESIGN.md "Pitfalls": tfds alone reuses wtal/<config>/<version> whatever manual_dir is
  now."""
  first, second = tmp_path / "first", tmp_path / "second"
  shutil.copytree(os.path.join(DUMMY, "thumos14_per_video"), first)
  shutil.copytree(first, second)  # copy2: same sizes and mtimes, so the same fingerprint
  data_dir = tmp_path / "data"
  builder = _prepare("thumos14", data_dir, str(first))
  fingerprint = features.folder_fingerprint(str(first))
  assert builder.info.metadata[wtal_dataset_builder.FINGERPRINT_KEY] == fingerprint
  assert features.folder_fingerprint(str(second)) == fingerprint
  before = _test_rgb(builder)
  info_file = builder.data_path / "dataset_info.json"
  stamp = info_file.stat().mtime

  # The same files (here a faithful copy): the prepared data is reused, not regenerated.
  assert _test_rgb(_prepare("thumos14", data_dir, str(second))).keys() == before.keys()
  assert info_file.stat().mtime == stamp

  # Other values in one feature file: prepared again, and the new values are what is read.
  changed = second / "features" / "test" / "rgb" / "video_test_0000278.npy"
  np.save(changed, 2 * np.load(changed))
  assert features.folder_fingerprint(str(second)) != fingerprint
  after = _test_rgb(_prepare("thumos14", data_dir, str(second)))
  np.testing.assert_array_equal(after["video_test_0000278"], 2 * before["video_test_0000278"])

  # A folder whose files have the wrong width: an error, instead of the old data and exit 0.
  np.save(changed, np.zeros([4, 512], np.float32))
  with pytest.raises(ValueError, match=r"video_test_0000278\.npy.*1024"):
    _prepare("thumos14", data_dir, str(second))
  # Back to the first folder: prepared from it again.
  again = _prepare("thumos14", data_dir, str(first))
  np.testing.assert_array_equal(_test_rgb(again)["video_test_0000278"],
                                before["video_test_0000278"])


def test_data_prepared_without_a_fingerprint_is_prepared_again(tmp_path):
  manual = os.path.join(DUMMY, "thumos14_per_video")
  builder = _prepare("thumos14", tmp_path, manual)
  (builder.data_path / "metadata.json").write_text("{}")  # as prepared before fingerprints
  builder = _prepare("thumos14", tmp_path, manual)
  assert builder.info.metadata[wtal_dataset_builder.FINGERPRINT_KEY] == (
      features.folder_fingerprint(manual))


def test_rgb_only_config_reads_the_rgb_stream_of_either_folder(tmp_path):
  """docs/DESIGN.md "RGB-only data": thumos14_rgb stores no flow and reads the same rgb rows
  from an RGB-only folder and from a two-stream one; thumos14 refuses the RGB-only folder,
  naming the missing flow folder and the RGB-only dataset."""
  rgb_only = os.path.join(DUMMY, "thumos14_rgb")
  builder = _prepare("thumos14_rgb", tmp_path / "a", rgb_only)
  assert "flow" not in builder.info.features
  assert builder.info.features["rgb"].shape == (None, 1024)
  from_rgb_only = _test_rgb(builder)
  from_two_streams = _test_rgb(_prepare("thumos14_rgb", tmp_path / "b",
                                        os.path.join(DUMMY, "thumos14_per_video")))
  assert sorted(from_rgb_only) == ["video_test_0000004", "video_test_0000278"]
  for video, rgb in from_rgb_only.items():
    np.testing.assert_array_equal(rgb, from_two_streams[video])
    np.testing.assert_array_equal(
        rgb, np.load(os.path.join(rgb_only, "features", "test", "rgb", video + ".npy")))
  missing = os.path.join(rgb_only, "features", "train", "flow")
  with pytest.raises(ValueError, match=f"missing folder {re.escape(missing)} .*thumos14_rgb "
                     "dataset"):
    _prepare("thumos14", tmp_path / "c", rgb_only)


def _own_videos(root, train_ids, test_ids=("game_1",)):
  """An RGB-only folder of one's own videos (as extract_features writes) with a gt.json."""
  database = {}
  for subset, ids in (("train", train_ids), ("test", test_ids)):
    for video in ids:
      os.makedirs(root / "features" / subset / "rgb", exist_ok=True)
      np.save(root / "features" / subset / "rgb" / f"{video}.npy", np.ones([2, 1024], np.float32))
      database[video] = {"subset": subset, "annotations": [
          {"segment": [0.0, 0.6], "label": "LongJump"}]}
  (root / "gt.json").write_text(json.dumps({"database": database}))
  return str(root)


def test_a_few_videos_of_ones_own_still_hold_one_out(tmp_path):
  """None of clip_a, clip_b, clip_d hashes to validation: the nearest one is held out (tfds
  cannot write an empty split); a single training video is refused in one line."""
  train_ids = ["clip_a", "clip_b", "clip_d"]
  assert not any(map(wtal_dataset_builder.in_validation, train_ids))
  (held,) = wtal_dataset_builder.held_out(train_ids)
  assert wtal_dataset_builder.held_out(train_ids + ["clip_c"]) == {"clip_c"}  # in_validation
  builder = _prepare("thumos14_rgb", tmp_path / "data", _own_videos(tmp_path / "a", train_ids))
  splits = {s: sorted(e["video_id"].decode() for e in tfds.as_numpy(builder.as_dataset(split=s)))
            for s in ("train", "validation", "test")}
  assert splits == {"train": sorted(set(train_ids) - {held}), "validation": [held],
                    "test": ["game_1"]}
  with pytest.raises(ValueError, match=r"1 training video\(s\) with features and ground truth "
                     r"\['clip_a'\]; expected at least 2"):
    _prepare("thumos14_rgb", tmp_path / "data2", _own_videos(tmp_path / "b", ["clip_a"]))

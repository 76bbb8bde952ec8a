"""Initial seeds (paper 3.2.1): foreground from CAS, background from shot changes and low
attention, the seeds file, and joining seeds to a tf.data pipeline."""
import os

import numpy as np
import pytest
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import seeds


def test_foreground_seeds_only_labelled_classes_above_threshold():
  loc = np.array([[[0.9, 0.95], [0.7, 0.85], [0.81, 0.1]]], np.float32)
  got = seeds.foreground_seeds(tf.constant(loc), tf.constant([[1.0, 0.0]]),
                               tf.constant([[1.0, 1.0, 0.0]]), 0.8).numpy()
  np.testing.assert_array_equal(got[0], [[1, 0], [0, 0], [0, 0]])  # padding row 2 excluded


def test_shot_change_marks_lower_attention_side():
  # Features jump between segments 2 and 3 (distance 10); elsewhere distance 1.
  x = np.array([[0], [1], [2], [12], [13], [14]], np.float32)[None]
  attention = np.array([[0.5, 0.5, 0.9, 0.2, 0.5, 0.5]], np.float32)
  got = seeds.shot_change_seeds(tf.constant(x), tf.constant(attention), tf.ones([1, 6]),
                                3.0).numpy()
  np.testing.assert_array_equal(got[0], [0, 0, 0, 1, 0, 0])
  attention = np.array([[0.5, 0.5, 0.1, 0.2, 0.5, 0.5]], np.float32)
  got = seeds.shot_change_seeds(tf.constant(x), tf.constant(attention), tf.ones([1, 6]),
                                3.0).numpy()
  np.testing.assert_array_equal(got[0], [0, 0, 1, 0, 0, 0])


def test_shot_change_ignores_padding():
  x = np.array([[0], [1], [2], [3], [100]], np.float32)[None]  # the jump is into padding
  got = seeds.shot_change_seeds(tf.constant(x), tf.zeros([1, 5]),
                                tf.constant([[1.0, 1, 1, 1, 0]]), 3.0).numpy()
  np.testing.assert_array_equal(got[0], [0, 0, 0, 0, 0])


def test_low_attention_takes_the_lowest_fraction_of_real_segments():
  attention = np.array([[0.9, 0.1, 0.5, 0.3, 0.7, 0.0]], np.float32)
  mask = np.array([[1, 1, 1, 1, 1, 0]], np.float32)  # 0.0 is padding
  got = seeds.low_attention_seeds(tf.constant(attention), tf.constant(mask), 0.4).numpy()
  np.testing.assert_array_equal(got[0], [0, 1, 0, 1, 0, 0])  # ceil(0.4 * 5) = 2
  none = seeds.low_attention_seeds(tf.constant(attention), tf.constant(mask), 0.0).numpy()
  np.testing.assert_array_equal(none[0], [0] * 6)


def test_initial_seeds_background_never_overlaps_foreground():
  cfg = config_lib.CASConfig(fg_seed_threshold=0.5, bg_seed_fraction=0.5)
  attention = np.array([[0.1, 0.2, 0.9, 0.8]], np.float32)
  tcas = np.array([[[5.0], [5.0], [5.0], [-5.0]]], np.float32)  # seg 0,1 high CAS, low att
  out = {"attention": tf.constant(attention), "tcas": tf.constant(tcas),
         "video_logits": tf.zeros([1, 1])}
  x = np.arange(4, dtype=np.float32)[None, :, None]
  got = seeds.initial_seeds(tf.constant(x), out, tf.ones([1, 4]), tf.ones([1, 1]), cfg).numpy()
  fg, bg = got[0, :, 1], got[0, :, 0]
  assert fg[2] == 1 and fg[3] == 0
  assert not np.any(fg * bg)


def test_seeds_file_round_trip_and_errors(tmp_path):
  path = str(tmp_path / "seeds.npz")
  data = {"v1": np.array([[0, 0], [3, 2]], np.int32), "v2": np.zeros([0, 2], np.int32)}
  seeds.save_seeds(path, data, num_channels=3)
  loaded = seeds.load_seeds(path, num_channels=3)
  assert set(loaded) == {"v1", "v2"}
  np.testing.assert_array_equal(loaded["v1"], data["v1"])
  assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
  with pytest.raises(ValueError, match="has 3 channels; expected 21"):
    seeds.load_seeds(path, num_channels=21)
  with pytest.raises(FileNotFoundError, match="missing.npz does not exist"):
    seeds.load_seeds(str(tmp_path / "missing.npz"), 3)
  bad = tmp_path / "bad.npz"
  bad.write_bytes(b"not a zip")
  with pytest.raises(ValueError, match="not a readable .npz"):
    seeds.load_seeds(str(bad), 3)
  seeds.save_seeds(path, {"v1": np.array([[0, 5]], np.int32)}, num_channels=3)
  with pytest.raises(ValueError, match="video v1: coordinates out of range"):
    seeds.load_seeds(path, 3)


def test_seeds_file_gets_the_umask_mode(tmp_path):
  old = os.umask(0o022)
  try:
    seeds.save_seeds(str(tmp_path / "s.npz"), {"v1": np.zeros([0, 2], np.int32)}, 3)
  finally:
    os.umask(old)
  assert os.stat(tmp_path / "s.npz").st_mode & 0o777 == 0o644


def test_to_coordinates():
  dense = np.zeros([4, 3])
  dense[1, 0] = dense[2, 2] = 1
  np.testing.assert_array_equal(seeds.to_coordinates(dense), [[1, 0], [2, 2]])


def _examples(lengths):
  return tf.data.Dataset.from_generator(
      lambda: ({"video_id": f"v{i}", "rgb": np.zeros([n, 2], np.float32)}
               for i, n in enumerate(lengths)),
      output_signature={"video_id": tf.TensorSpec([], tf.string),
                        "rgb": tf.TensorSpec([None, 2], tf.float32)})


def test_attach_seeds_densifies_per_video():
  data = {"v0": np.array([[0, 0], [2, 1]], np.int32), "v1": np.zeros([0, 2], np.int32)}
  out = list(seeds.attach_seeds(_examples([3, 2]), data, 2).as_numpy_iterator())
  np.testing.assert_array_equal(out[0]["seeds"], [[1, 0], [0, 0], [0, 1]])
  np.testing.assert_array_equal(out[1]["seeds"], np.zeros([2, 2]))


def test_attach_seeds_missing_video_names_it():
  with pytest.raises(tf.errors.InvalidArgumentError, match="no seeds for video.*v1"):
    list(seeds.attach_seeds(_examples([3, 2]), {"v0": np.zeros([0, 2], np.int32)}, 2))


def test_attach_seeds_past_the_end_names_the_video():
  with pytest.raises(tf.errors.InvalidArgumentError, match="past the last segment.*v0"):
    list(seeds.attach_seeds(_examples([3]), {"v0": np.array([[3, 0]], np.int32)}, 2))


def test_probability_seeds_on_a_known_calibrated_map():
  """Foreground: labelled class probability >= 0.9; background: every labelled class below
  0.1 and no foreground seed within 2 segments; shot changes play no part."""
  # One video, 9 segments, classes 0 (labelled) and 1 (not labelled; high but ignored).
  p0 = [0.05, 0.02, 0.3, 0.95, 0.92, 0.5, 0.08, 0.04, 0.01]
  p1 = [0.99] * 9
  tcas = np.log(np.stack([p0, p1], -1) / (1 - np.stack([p0, p1], -1)))[None].astype(np.float32)
  outputs = {"tcas": tf.constant(tcas), "attention": tf.ones([1, 9]),
             "video_logits": tf.zeros([1, 2])}
  cfg = config_lib.CASConfig(network="mil", maps="probability", fg_seed_threshold=0.9,
                             bg_seed_rule="probability", bg_seed_threshold=0.1,
                             bg_seed_margin=2, bg_seed_null_quantile=1.0)
  features = np.zeros([1, 9, 4], np.float32)
  features[0, 5:] = 10.0  # a shot change between segments 4 and 5: ignored by this rule
  dense = seeds.initial_seeds(tf.constant(features), outputs, tf.ones([1, 9]),
                              tf.constant([[1.0, 0.0]]), cfg).numpy()[0]
  np.testing.assert_array_equal(dense[:, 1], [0, 0, 0, 1, 1, 0, 0, 0, 0])
  np.testing.assert_array_equal(dense[:, 2], [0] * 9)  # unlabelled class: no seeds
  # Below 0.1 at 0, 1, 6, 7, 8; segments 1..6 are within 2 of a foreground seed (3, 4).
  np.testing.assert_array_equal(dense[:, 0], [1, 0, 0, 0, 0, 0, 0, 1, 1])


def test_absent_class_level_is_the_quantile_of_the_unlabelled_classes_on_real_segments():
  # Video 0: labelled with class 0; class 1 (absent) scores 0.1..0.5 on its 5 real segments
  # and 0.9 on padding. Video 1 is labelled with both classes: no absent class, no level.
  loc = np.zeros([2, 6, 2], np.float32)
  loc[0, :, 1] = [0.3, 0.1, 0.5, 0.2, 0.4, 0.9]
  loc[0, :, 0] = 0.95  # the labelled class plays no part
  mask = tf.constant([[1, 1, 1, 1, 1, 0], [1] * 6], tf.float32)
  labels = tf.constant([[1.0, 0.0], [1.0, 1.0]])
  level = lambda q: seeds.absent_class_level(tf.constant(loc), labels, mask, q).numpy()
  np.testing.assert_allclose(level(0.0), [0.1, np.inf])
  np.testing.assert_allclose(level(0.5), [0.3, np.inf])  # the middle of 5 values
  np.testing.assert_allclose(level(0.9), [0.4, np.inf])  # floor(0.9 * 4) = 3rd of 0..4
  np.testing.assert_allclose(level(1.0), [np.inf, np.inf])  # 1: no condition


def test_probability_background_seeds_stay_within_the_absent_classes_level():
  """A labelled-class probability of 0.03 is background by the 0.1 threshold alone, but not
  when the video's absent class scores at most 0.002 on 90 % of its segments."""
  p0 = np.array([0.001, 0.03, 0.03, 0.0005, 0.99, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
  p1 = np.array([0.001] * 10 + [0.002, 0.2])  # absent class: 90 % quantile = 0.002
  loc = tf.constant(np.stack([p0, p1], -1)[None], tf.float32)
  labels, mask = tf.constant([[1.0, 0.0]]), tf.ones([1, 12])
  fg = seeds.foreground_seeds(loc, labels, mask, 0.9)
  got = lambda q: seeds.probability_background_seeds(loc, fg, labels, mask, 0.1, 1, q).numpy()[0]
  # Segment 4 is the foreground seed; 3 and 5 are within the margin; 5.. are above 0.1.
  np.testing.assert_array_equal(got(1.0), [1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
  np.testing.assert_array_equal(got(0.9), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])


def test_joined_seeds_take_foreground_of_any_stream_and_background_of_all():
  # 5 segments, background + 2 classes. rgb: bg at 0, 1, 3; class 0 at 2. flow: bg at 0, 3, 4;
  # class 1 at 1, and class 0 at 3 (where rgb says background: foreground wins).
  rgb = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]], np.float32)
  flow = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 1, 0], [1, 0, 0]], np.float32)
  want = np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0], [0, 1, 0], [0, 0, 0]], np.float32)
  np.testing.assert_array_equal(seeds.join_dense(np.stack([rgb, flow])), want)
  got = seeds.join_streams({"rgb": {"v": seeds.to_coordinates(rgb)},
                            "flow": {"v": seeds.to_coordinates(flow)}}, 3)
  np.testing.assert_array_equal(got["v"], seeds.to_coordinates(want))


def test_foreground_seeds_always_include_each_labelled_class_peak():
  # Class 0 never reaches 0.9: its peak (t = 1) is seeded; class 1 is not labelled.
  loc = np.array([[[0.3, 0.95], [0.6, 0.2], [0.5, 0.1], [0.99, 0.0]]], np.float32)
  got = seeds.foreground_seeds(tf.constant(loc), tf.constant([[1.0, 0.0]]),
                               tf.constant([[1.0, 1.0, 1.0, 0.0]]), 0.9).numpy()
  np.testing.assert_array_equal(got[0, :, 0], [0, 1, 0, 0])  # padding row 3 is not a peak
  np.testing.assert_array_equal(got[0, :, 1], [0, 0, 0, 0])

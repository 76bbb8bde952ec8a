"""assg_tf.stages: the stages of a run as library functions (training itself: test_training.py,
the whole run: test_train.py)."""
import numpy as np
import pytest
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import input_pipeline
from assg_tf import run_dir
from assg_tf import seeds as seeds_lib
from assg_tf import stages


def test_exported_variant_is_assg_else_the_last_trained():
  assert stages.exported_variant(config_lib.Config(variants=("cas", "assg", "ssg"))) == "assg"
  assert stages.exported_variant(config_lib.Config(variants=("ssg", "cas"))) == "cas"


def test_feature_statistics_are_per_channel_over_every_snippet():
  rng = np.random.default_rng(0)
  videos = [rng.normal(size=[t, 3]).astype(np.float32) for t in (4, 9)]
  examples = tf.data.Dataset.from_generator(
      lambda: ({"rgb": v} for v in videos),
      output_signature={"rgb": tf.TensorSpec([None, 3], tf.float32)})
  mean, std = stages.feature_statistics(examples, "rgb")
  joint = np.concatenate(videos).astype(np.float64)
  np.testing.assert_allclose(mean, joint.mean(0), rtol=1e-10)
  np.testing.assert_allclose(std, joint.std(0), rtol=1e-8)


def test_seeds_come_from_the_users_file_then_the_runs_file(tmp_path):
  info = config_lib.DatasetInfo(("a", "b"), 2, 2)
  stored = {"v1": np.array([[0, 1], [3, 0]], np.int32)}
  user = str(tmp_path / "user_{stream}.npz")
  seeds_lib.save_seeds(user.format(stream="rgb"), stored, info.channels)
  cfg = config_lib.Config(model_dir=str(tmp_path / "out"), streams=("rgb",),
                          cas=config_lib.CASConfig(seeds_file=user))
  got = stages.load_or_compute_seeds(cfg, None, None, info)
  np.testing.assert_array_equal(got["rgb"]["v1"], stored["v1"])
  cfg = config_lib.Config(model_dir=str(tmp_path / "out"), streams=("flow",))
  seeds_lib.save_seeds(run_dir.seeds_path(cfg.model_dir, "flow"), stored, info.channels)
  got = stages.load_or_compute_seeds(cfg, None, None, info)
  np.testing.assert_array_equal(got["flow"]["v1"], stored["v1"])
  with pytest.raises(ValueError, match="expected 4"):
    stages.load_or_compute_seeds(cfg, None, None, config_lib.DatasetInfo(("a", "b", "c"), 2, 2))


def test_seconds_per_segment_of_a_split():
  empty = tf.data.Dataset.from_tensor_slices({"seconds_per_segment": tf.zeros([0])})
  assert input_pipeline.seconds_per_segment(empty) is None
  two = tf.data.Dataset.from_tensor_slices({"seconds_per_segment": tf.constant([0.64, 0.64])})
  assert input_pipeline.seconds_per_segment(two) == float(np.float32(0.64))

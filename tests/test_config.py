"""The config objects refuse values no run can use, naming the field and what was expected."""
import dataclasses

import pytest

from assg_tf import config as config_lib


def test_defaults_are_valid():
  config_lib.validate(config_lib.Config())
  assert config_lib.problems(config_lib.Config()) == []


@pytest.mark.parametrize("section,field,value,message", [
    ("train", "learning_rate", 0.0, "train.learning_rate=0.0: expected a positive number"),
    ("train", "learning_rate", -1e-4, "train.learning_rate=-0.0001: expected a positive number"),
    ("train", "learning_rate", float("nan"), "train.learning_rate=nan: expected a positive number"),
    ("train", "checkpoint_every", 0, "train.checkpoint_every=0: expected a positive int"),
    ("train", "log_every", 0, "train.log_every=0: expected a positive int"),
    ("train", "validate_every", 0, "train.validate_every=0: expected a positive int"),
    ("train", "keep_checkpoints", 0, "train.keep_checkpoints=0: expected a positive int"),
    ("cas", "learning_rate", float("inf"), "cas.learning_rate=inf: expected a positive number"),
    ("cas", "bg_seed_null_quantile", 1.5,
     "cas.bg_seed_null_quantile=1.5: expected a number in [0, 1]"),
    ("predict", "max_detections", 0, "predict.max_detections=0: expected a positive int"),
    ("data", "dataset", "thumos15", "data.dataset='thumos15': expected one of synthetic, "
     "synthetic_thumos, synthetic_anet, thumos14, activitynet13, thumos14_rgb, "
     "activitynet13_rgb"),
])
def test_bad_values_are_named(section, field, value, message):
  base = config_lib.Config()
  cfg = dataclasses.replace(
      base, **{section: dataclasses.replace(getattr(base, section), **{field: value})})
  with pytest.raises(ValueError) as e:
    config_lib.validate(cfg)
  assert str(e.value) == message


def test_a_section_alone_is_checked_by_field_name():
  with pytest.raises(ValueError, match=r"^checkpoint_every=0: expected a positive int$"):
    config_lib.validate(config_lib.TrainConfig(checkpoint_every=0))
  config_lib.validate(config_lib.TrainConfig())


def test_datasets_are_the_wtal_builder_configs():
  from assg_tf.datasets.wtal import wtal_dataset_builder
  names = tuple(c.name for c in wtal_dataset_builder.Builder.BUILDER_CONFIGS)
  assert names == config_lib.DATASETS


def test_config_round_trips_through_json():
  import json  # pylint: disable=g-import-not-at-top
  cfg = config_lib.Config(predict=config_lib.PredictConfig(proposal_thresholds=(0.2, 0.5)),
                          variants=("cas", "assg"))
  raw = json.loads(json.dumps(dataclasses.asdict(cfg)))
  assert config_lib.from_dict(raw) == cfg
  assert config_lib.from_dict({"data": {"unknown": 1}, "old_key": 2}) == config_lib.Config()


def test_dataset_info_and_stream_slices():
  info = config_lib.DatasetInfo(("a", "b", "c"), rgb_dim=4, flow_dim=6)
  assert (info.num_classes, info.channels, info.feature_dim) == (3, 4, 10)
  assert [info.stream_dim(s) for s in config_lib.STREAMS] == [4, 6]
  joint = list(range(10))
  assert joint[config_lib.stream_slice("rgb", 4)] == [0, 1, 2, 3]
  assert joint[config_lib.stream_slice("flow", 4)] == [4, 5, 6, 7, 8, 9]
  with pytest.raises(ValueError, match="stream='depth'"):
    config_lib.stream_slice("depth", 4)


def test_rgb_only_datasets_have_no_flow_stream():
  """docs/DESIGN.md "RGB-only data"."""
  assert config_lib.dataset_streams("thumos14_rgb") == ("rgb",)
  assert config_lib.dataset_streams("thumos14") == config_lib.STREAMS
  assert [config_lib.benchmark(d) for d in ("activitynet13_rgb", "thumos14", "synthetic")] == [
      "activitynet13", "thumos14", "synthetic"]
  rgb_only = config_lib.DataConfig(dataset="activitynet13_rgb")
  config_lib.validate(config_lib.Config(data=rgb_only, streams=("rgb",)))
  with pytest.raises(ValueError, match=r"^streams=\('rgb', 'flow'\): expected rgb alone: the "
                     r"dataset activitynet13_rgb has no flow stream$"):
    config_lib.validate(config_lib.Config(data=rgb_only))
  info = config_lib.DatasetInfo(("a",), rgb_dim=4, flow_dim=0)
  assert info.feature_dim == 4
  assert list(range(4))[config_lib.stream_slice("rgb", 4)] == [0, 1, 2, 3]

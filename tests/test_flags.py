"""Every configs/*.flags file parses into a valid Config; bad values are refused by name."""
import dataclasses
import glob
import os

import pytest
from absl import flags

from assg_tf import config as config_lib
from assg_tf import flags as assg_flags

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs",
                                        "*.flags")))


def _parse(args):
  fv = flags.FlagValues()
  assg_flags.define_flags(fv)
  fv(["prog"] + args)
  return assg_flags.config_from_flags(fv)


def test_there_are_the_five_configs():
  names = {os.path.basename(p) for p in CONFIGS}
  assert {"synthetic.flags", "thumos.flags", "activitynet.flags", "thumos_paper.flags",
          "activitynet_paper.flags"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_flagfile_parses(path):
  cfg = _parse([f"--flagfile={path}"])
  assert isinstance(cfg, config_lib.Config)
  assert cfg.data.dataset in ("synthetic", "synthetic_thumos", "synthetic_anet", "thumos14",
                              "activitynet13")
  assert cfg.cas.steps > 0 and cfg.train.steps > 0


def _config(name):
  return _parse([f"--flagfile={p}" for p in CONFIGS if os.path.basename(p) == name])


@pytest.mark.parametrize("dataset", ["thumos", "activitynet"])
def test_paper_configs_are_the_paper_preset_and_the_defaults_our_own(dataset):
  """configs/*_paper.flags spell out config.PAPER; configs/<benchmark>.flags take the
  defaults (our method) and differ from the paper config in the method only."""
  paper, ours = _config(f"{dataset}_paper.flags"), _config(f"{dataset}.flags")
  assert paper == config_lib.paper_preset(paper)
  assert ours.cas.network == "mil" and ours.model.kernel_size == 3
  for section in config_lib.PAPER:  # ours keeps every default of the method
    assert getattr(ours, section) == dataclasses.replace(
        getattr(config_lib.Config(), section),
        **{f.name: getattr(getattr(ours, section), f.name)
           for f in dataclasses.fields(getattr(ours, section))
           if f.name not in config_lib.PAPER[section]})
  assert paper.eval == ours.eval and paper.data.dataset == ours.data.dataset


def test_paper_settings_in_the_paper_configs():
  cfg = _config("thumos_paper.flags")
  assert cfg.data.num_segments == 400
  assert cfg.train.learning_rate == 1e-4
  assert cfg.model.growing_threshold_fg == cfg.model.growing_threshold_bg == 0.99
  assert cfg.model.erasing_threshold == 0.4 and cfg.predict.rgb_weight == 0.3
  assert cfg.eval.tiou_thresholds == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
  anet = _config("activitynet_paper.flags")
  assert anet.eval.tiou_thresholds[0] == 0.5 and anet.eval.tiou_thresholds[-1] == 0.95
  assert len(anet.eval.tiou_thresholds) == 10


def test_later_flags_win_over_the_flagfile():
  path = [p for p in CONFIGS if p.endswith("synthetic.flags")][0]
  cfg = _parse([f"--flagfile={path}", "--cas_steps=7", "--assg_steps=3", "--model_dir=/x"])
  assert (cfg.cas.steps, cfg.train.steps, cfg.model_dir) == (7, 3, "/x")


@pytest.mark.parametrize("arg,message", [
    ("--pooling=max", "--pooling='max': expected one of sap, sap_mean, gap, gmp, topk"),
    ("--variants=cas,foo", "--variants"),
    ("--rgb_weight=1.5", "--rgb_weight=1.5: expected a number in"),
    ("--tiou_thresholds=0.1,x", "--tiou_thresholds takes comma-separated numbers"),
])
def test_bad_values_are_named(arg, message):
  with pytest.raises(ValueError, match=message.replace("(", r"\(")):
    _parse([arg])


def test_every_config_field_has_a_flag():
  covered = {(section, name) for section, name, _ in assg_flags.FLAG_TABLE.values()}
  base = config_lib.Config()
  import dataclasses
  for f in dataclasses.fields(base):
    value = getattr(base, f.name)
    if dataclasses.is_dataclass(value):
      for g in dataclasses.fields(value):
        assert (f.name, g.name) in covered, f"{f.name}.{g.name} has no flag"
    else:
      assert ("", f.name) in covered, f"{f.name} has no flag"


@pytest.mark.parametrize("arg,message", [
    ("--learning_rate=0", "--learning_rate=0.0: expected a positive number"),
    ("--learning_rate=-1", "--learning_rate=-1.0: expected a positive number"),
    ("--learning_rate=nan", "--learning_rate=nan: expected a positive number"),
    ("--cas_learning_rate=0", "--cas_learning_rate=0.0: expected a positive number"),
    ("--checkpoint_every=0", "--checkpoint_every=0: expected a positive int"),
    ("--log_every=0", "--log_every=0: expected a positive int"),
    ("--validate_every=0", "--validate_every=0: expected a positive int"),
    ("--keep_checkpoints=0", "--keep_checkpoints=0: expected a positive int"),
    ("--max_detections=0", "--max_detections=0: expected a positive int"),
    ("--dataset=thumos15", "--dataset='thumos15': expected one of synthetic, synthetic_thumos, "
     "synthetic_anet, thumos14, activitynet13, thumos14_rgb, activitynet13_rgb"),
    ("--dataset=thumos14_rgb", "--streams=('rgb', 'flow'): expected rgb alone: the dataset "
     "thumos14_rgb has no flow stream"),
])
def test_values_checked_by_the_config_are_named_by_flag(arg, message):
  with pytest.raises(ValueError) as e:
    _parse([arg])
  assert str(e.value) == message


@pytest.mark.parametrize("exception,message", [
    (KeyboardInterrupt(), "interrupted"),
    (ValueError("--x=1: expected 2"), "error: --x=1: expected 2"),
])
def test_with_clear_errors_ends_with_one_line(exception, message):
  def main(argv):
    raise exception

  with pytest.raises(SystemExit) as e:
    assg_flags.with_clear_errors(main)(["prog"])
  assert e.value.code == message

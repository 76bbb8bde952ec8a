"""absl flags shared by every command, and their translation into `assg_tf.config` objects.

Each command (`assg_tf.train`, `assg_tf.evaluate`, `predict`, `export`, `visualize`: a module
named after a command holds only its flags and `main`) is an absl app started the same way,
`run_command(main, define_flags)`: its flags are defined when it runs (never at import), and bad
input ends it with one line (`with_clear_errors`). Flags can come from
`--flagfile=configs/NAME.flags`, later flags winning. Only the `main` of a command touches
`FLAGS`: it calls `config_from_flags(FLAGS)` and hands the result to library code.

Every flag below maps to one field of one config dataclass; the table is the single place that
names them, so `configs/*.flags`, `--help` and the dataclasses cannot drift apart.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, Tuple

from absl import app
from absl import flags

from assg_tf import config as config_lib

# flag name -> (Config section or "" for a top-level field, field name, help text).
FLAG_TABLE: Dict[str, Tuple[str, str, str]] = {
    # Data (docs/DESIGN.md "Data").
    "dataset": ("data", "dataset", "tfds config of the wtal builder: synthetic, "
                "synthetic_thumos, synthetic_anet, thumos14, activitynet13, thumos14_rgb, "
                "activitynet13_rgb (RGB only; thumos14 / activitynet13 on a folder without "
                "flow/ folders is read as these)."),
    "manual_dir": ("data", "manual_dir", "Folder with the user's features (tfds manual_dir)."),
    "data_dir": ("data", "data_dir", "tfds data dir for prepared data (default: tfds')."),
    "train_split": ("data", "train_split", "Split to train on."),
    "validation_split": ("data", "validation_split", "Held-out training videos."),
    "test_split": ("data", "test_split", "Split to evaluate on."),
    "num_segments": ("data", "num_segments", "Segments sampled per training video."),
    "batch_size": ("data", "batch_size", "Global batch size."),
    "shuffle_buffer": ("data", "shuffle_buffer", "Shuffle buffer (videos)."),
    "standardize": ("data", "standardize", "Standardise feature channels with the training "
                    "videos' statistics inside the networks."),
    "cache_megabytes": ("data", "cache_megabytes", "Keep splits up to this size in memory."),
    "seed": ("data", "seed", "Random seed of sampling, shuffling and initialisation."),
    # Seeds / CAS network (paper 3.2.1).
    "cas_network": ("cas", "network", "Seed provider: stpn (attention pooling) or mil "
                    "(top-k pooling)."),
    "cas_kernel_size": ("cas", "kernel_size", "Temporal kernel of the CAS network (1: STPN's)."),
    "cas_loss": ("cas", "loss", "CAS video-level loss: softmax (eq. 5) or bce (per class)."),
    "cas_maps": ("cas", "maps", "CAS localisation map: minmax (normalised) or probability."),
    "bg_seed_rule": ("cas", "bg_seed_rule", "Background seeds: paper (shot changes + lowest "
                     "attention) or probability (map low for every label, away from fg)."),
    "bg_seed_threshold": ("cas", "bg_seed_threshold", "probability rule: map below this."),
    "bg_seed_null_quantile": ("cas", "bg_seed_null_quantile", "probability rule: map also at "
                              "most this quantile of the video's absent classes (1: off)."),
    "joint_seeds": ("cas", "joint_seeds", "Both streams train on the same seeds: foreground of "
                    "either stream's CAS, background of both (false: each its own)."),
    "bg_seed_margin": ("cas", "bg_seed_margin", "probability rule: segments from any fg seed."),
    "cas_topk_fraction": ("cas", "topk_fraction", "mil: share of segments in the top-k."),
    "cas_hidden_dim": ("cas", "hidden_dim", "Hidden width of the CAS network."),
    "cas_attention_dim": ("cas", "attention_dim", "Hidden width of the CAS attention."),
    "cas_dropout": ("cas", "dropout", "Dropout in the CAS network."),
    "cas_sparsity_weight": ("cas", "sparsity_weight", "Weight of the attention L1 loss."),
    "cas_learning_rate": ("cas", "learning_rate", "Adam learning rate of the CAS network."),
    "cas_steps": ("cas", "steps", "Training steps of the CAS network per stream."),
    "fg_seed_threshold": ("cas", "fg_seed_threshold", "Normalised CAS above this: fg seed."),
    "bg_seed_fraction": ("cas", "bg_seed_fraction", "Lowest-attention fraction: bg seeds."),
    "shot_change_ratio": ("cas", "shot_change_ratio", "Feature jump (x median): shot change."),
    "seeds_file": ("cas", "seeds_file", "Read initial seeds from this file."),
    # Model (paper 3.2.2, 3.3).
    "hidden_dim": ("model", "hidden_dim", "Filters of the SSG temporal convolutions."),
    "kernel_size": ("model", "kernel_size", "Temporal kernel of the SSG backbone (1: paper)."),
    "head": ("model", "head", "Heatmap head: full (both ReLU halves) or split (actions read "
             "ReLU(F), background ReLU(-F))."),
    "label_softmax": ("model", "label_softmax", "Grow and erase on H renormalised over the "
                      "background and the video's labels."),
    "class_loss": ("model", "class_loss", "Classifier loss: softmax (eq. 5) or bce."),
    "growing_threshold_fg": ("model", "growing_threshold_fg", "theta_g, action classes."),
    "growing_threshold_bg": ("model", "growing_threshold_bg", "theta_g, background."),
    "erasing_threshold": ("model", "erasing_threshold", "theta_a of the erasing step."),
    "pooling": ("model", "pooling", "Classifier pooling: sap, sap_mean (eq. 3's energy as "
                "the mean of ReLU(F), not its sum), gap, gmp or topk (mean of the top 1/8)."),
    "seeding_loss": ("model", "seeding_loss", "paper (eq. 4) or balanced (fg/bg apart)."),
    # Training (Algorithm 1).
    "learning_rate": ("train", "learning_rate", "Adam learning rate of ASSG."),
    "assg_steps": ("train", "steps", "ASSG training steps per stream."),
    "checkpoint_every": ("train", "checkpoint_every", "Steps between checkpoints."),
    "log_every": ("train", "log_every", "Steps between progress lines."),
    "validate_every": ("train", "validate_every", "Steps between validation runs."),
    "keep_checkpoints": ("train", "keep_checkpoints", "Checkpoints kept."),
    # Prediction (paper 3.5).
    "rgb_weight": ("predict", "rgb_weight", "lambda: weight of the rgb heatmap (eq. 6)."),
    "class_threshold": ("predict", "class_threshold", "Video score to localise a class."),
    "proposal_thresholds": ("predict", "proposal_thresholds", "Heatmap thresholds."),
    "proposal_score": ("predict", "proposal_score", "mean (eq. 6) or contrast (eq. 6 minus "
                       "the outer mean)."),
    "nms_threshold": ("predict", "nms_threshold", "tIoU of the per-class hard NMS."),
    "soft_nms_sigma": ("predict", "soft_nms_sigma", "Gaussian Soft-NMS: scores decay by "
                       "exp(-tIoU^2 / sigma); 0 = hard NMS at nms_threshold."),
    "smoothing": ("predict", "smoothing", "Moving average of the fused heatmap over this many "
                  "segments (odd; 1 = none) before the proposals."),
    "video_scores": ("predict", "video_scores", "Class scores from the variant's own "
                     "classifier (own) or from the CAS seed network (cas)."),
    "video_score_weight": ("predict", "video_score_weight", "Proposal score += this x the "
                           "video score of its class."),
    "select_on_validation": ("predict", "select_on_validation", "Choose rgb_weight, "
                             "proposal_score, video_score_weight, smoothing on the validation "
                             "split."),
    "max_detections": ("predict", "max_detections", "Detections kept per video."),
    # Evaluation (docs/DESIGN.md "Evaluation").
    "tiou_thresholds": ("eval", "tiou_thresholds", "tIoU thresholds of the mAP."),
    "thumos_ambiguous": ("eval", "thumos_ambiguous", "Ignore detections on Ambiguous."),
    # The run.
    "model_dir": ("", "model_dir", "Checkpoints, seeds, metrics, predictions, export."),
    "variants": ("", "variants", "What to train and evaluate: cas, ssg, assg."),
    "streams": ("", "streams", "Streams to train: rgb, flow."),
}


def _field(section: str, name: str) -> dataclasses.Field:
  cls = type(getattr(config_lib.Config(), section)) if section else config_lib.Config
  return {f.name: f for f in dataclasses.fields(cls)}[name]


def _default(section: str, name: str) -> Any:
  obj = getattr(config_lib.Config(), section) if section else config_lib.Config()
  return getattr(obj, name)


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
  """Defines every flag of FLAG_TABLE once (a second call is a no-op)."""
  for flag_name, (section, name, help_text) in FLAG_TABLE.items():
    if flag_name in flag_values:
      continue
    default = _default(section, name)
    if isinstance(default, bool):
      flags.DEFINE_bool(flag_name, default, help_text, flag_values=flag_values)
    elif isinstance(default, int):
      flags.DEFINE_integer(flag_name, default, help_text, flag_values=flag_values)
    elif isinstance(default, float):
      flags.DEFINE_float(flag_name, default, help_text, flag_values=flag_values)
    elif isinstance(default, tuple) and default and isinstance(default[0], float):
      flags.DEFINE_list(flag_name, [repr(x) for x in default], help_text,
                        flag_values=flag_values)
    elif isinstance(default, tuple):
      flags.DEFINE_list(flag_name, list(default), help_text, flag_values=flag_values)
    else:  # str or None
      flags.DEFINE_string(flag_name, default, help_text, flag_values=flag_values)


def _convert(flag_name: str, section: str, name: str, value: Any) -> Any:
  default = _default(section, name)
  if isinstance(default, tuple) and default and isinstance(default[0], float):
    try:
      return tuple(float(v) for v in value)
    except ValueError as e:
      raise ValueError(f"--{flag_name} takes comma-separated numbers, got {value!r}") from e
  if isinstance(default, tuple):
    return tuple(value)
  if value == "" and default is None:
    return None
  return value


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> config_lib.Config:
  """Builds a Config from parsed flags; validates values a user can get wrong."""
  sections: Dict[str, Dict[str, Any]] = {}
  top: Dict[str, Any] = {}
  for flag_name, (section, name, _) in FLAG_TABLE.items():
    value = _convert(flag_name, section, name, flag_values[flag_name].value)
    (sections.setdefault(section, {}) if section else top)[name] = value
  base = config_lib.Config()
  cfg = dataclasses.replace(
      base, **top,
      **{s: dataclasses.replace(getattr(base, s), **kw) for s, kw in sections.items()})
  validate(cfg)
  return cfg


def validate(cfg: config_lib.Config) -> None:
  """Raises ValueError naming the flag of the first value `config.problems` finds and what was
  expected (the checks themselves live in `assg_tf.config`)."""
  flag_of = {f"{s}.{n}" if s else n: f for f, (s, n, _) in FLAG_TABLE.items()}
  for field, value, expected in config_lib.problems(cfg):
    raise ValueError(f"--{flag_of.get(field, field)}={value!r}: expected {expected}")


def with_clear_errors(main):
  """Wraps a command's main: bad input (a ValueError naming the file or value, a missing or
  already existing file) ends the command with its message and exit status 1, not a
  traceback; so does Ctrl-C."""

  def wrapped(argv):
    try:
      return main(argv)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
      raise SystemExit(f"error: {e}") from None
    except KeyboardInterrupt:
      raise SystemExit("interrupted") from None

  return wrapped


def run_command(main, define_command_flags) -> None:
  """How every command starts: defines its flags, then runs `main` as an absl app wrapped in
  `with_clear_errors`."""
  define_command_flags()
  app.run(with_clear_errors(main))

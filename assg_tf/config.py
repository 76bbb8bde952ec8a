"""Configuration objects: the only way library code receives settings.

Configs are data (big_vision style): `configs/*.flags` set absl flags, `assg_tf.flags` turns the
parsed flags into these frozen dataclasses, and every library function takes the dataclass it
needs. Library code never reads `absl.flags.FLAGS`, so it runs unchanged under pytest.

Defaults are the project's best measured settings (docs/RESULTS.md); where they depart from the
paper, `PAPER` below holds the paper's value (section 4.2, or docs/DESIGN.md "Method"'s reading
where the paper is silent) and docs/DESIGN.md ("Departures from the paper") says why.
`paper_preset(cfg)` and `configs/*_paper.flags` give the paper's exact method.

This module owns, once each: the choice lists (`STREAMS`, `VARIANTS`, `POOLINGS`, ...), every
check of a value (`problems`, `validate`; `assg_tf.flags` only names the flag), `from_dict`
(the inverse of `dataclasses.asdict` after JSON, how a run's run.json is read back) and
`DatasetInfo`, what a run knows of its data: classes, stream widths, time base.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Dict, List, Optional, Tuple

# The choice lists, named once (flags' help, checks, commands and networks read them here).
STREAMS = ("rgb", "flow")  # the two streams, trained apart (paper 3.5); features are rgb first
VARIANTS = ("cas", "ssg", "assg")  # what a run trains and evaluates (paper Table 2)
POOLINGS = ("sap", "sap_mean", "gap", "gmp", "topk")  # the classifier's pooling (paper Table 1)
CAS_NETWORKS = ("stpn", "mil")
VIDEO_LOSSES = ("softmax", "bce")  # video-level losses (losses.VIDEO_LOSSES)
CAS_MAPS = ("minmax", "probability")
BG_SEED_RULES = ("paper", "probability")
HEADS = ("full", "split")
SEEDING_LOSSES = ("paper", "balanced")
PROPOSAL_SCORES = ("mean", "contrast")
VIDEO_SCORES = ("own", "cas")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """What a run knows of its data: the classes, the stream widths and the time base.

  Features are the two streams side by side, rgb channels first (docs/DESIGN.md "Batches");
  `stream_slice` is the one place that says where each stream's channels are.
  """
  class_names: Tuple[str, ...]
  rgb_dim: int
  flow_dim: int
  num_examples: Optional[int] = None  # None when the builder does not know it
  # delta: snippet t covers [t * delta, (t + 1) * delta) seconds; None when not read yet.
  seconds_per_segment: Optional[float] = None

  @property
  def num_classes(self) -> int:
    return len(self.class_names)

  @property
  def channels(self) -> int:
    """Heatmap and seed channels: the background (channel 0) and the C classes."""
    return self.num_classes + 1

  @property
  def feature_dim(self) -> int:
    """Width of the joint [rgb, flow] features."""
    return self.rgb_dim + self.flow_dim

  def stream_dim(self, stream: str) -> int:
    return {"rgb": self.rgb_dim, "flow": self.flow_dim}[stream]


def stream_slice(stream: str, rgb_dim: int) -> slice:
  """The channels of `stream` in the joint [rgb, flow] features: `features[..., slice]`."""
  if stream not in STREAMS:
    raise ValueError(f"stream={stream!r}: expected one of {STREAMS}")
  return slice(0, rgb_dim) if stream == "rgb" else slice(rgb_dim, None)


@dataclasses.dataclass(frozen=True)
class DataConfig:
  """Which videos, and how they are sampled (docs/DESIGN.md "Data"; paper 4.2)."""
  # tfds config of the `wtal` builder: synthetic, synthetic_thumos, synthetic_anet, thumos14,
  # activitynet13.
  dataset: str = "synthetic"
  manual_dir: Optional[str] = None  # the user's feature folder (tfds manual_dir)
  data_dir: Optional[str] = None  # where tfds writes prepared data; None = tfds default
  train_split: str = "train"
  validation_split: str = "validation"  # held-out training videos, never test videos
  test_split: str = "test"
  num_segments: int = 400  # N segments uniformly sampled per training video (paper 4.2)
  batch_size: int = 16  # global batch size (all replicas)
  shuffle_buffer: int = 1024
  seed: int = 0
  # Standardise every feature channel with the training videos' mean and standard deviation
  # inside each network (layers.FeatureStandardization): our departure, docs/DESIGN.md.
  standardize: bool = True
  # Splits up to this size (prepared tfds files) are kept in memory after the first epoch
  # (THUMOS'14's I3D features: about 0.5 GB; ActivityNet's are read from disk every epoch).
  cache_megabytes: int = 4096


@dataclasses.dataclass(frozen=True)
class CASConfig:
  """The CAS network that provides the initial seeds (paper 3.2.1)."""
  # "stpn": STPN-style attention pooling (the paper's "STPN-CAS", docs/DESIGN.md "Method"'s
  # reading);
  # "mil": W-TALC-style top-k multiple-instance pooling, the best seed provider measured here.
  network: str = "mil"
  # Temporal kernel of the CAS network's embedding convolution (1 = per snippet, STPN's).
  kernel_size: int = 3
  # Video-level loss: "softmax" (eq. 5, cross-entropy over the C classes) or "bce" (a sigmoid
  # per class, multi-label): with "bce" a snippet's sigmoid(T-CAS) is a calibrated probability
  # of its class, which the "probability" maps and seeds below rely on.
  loss: str = "bce"
  # The localisation map that seeds and the CAS baseline use: "minmax" (a_t * sigmoid(s_t)
  # min-max normalised per video and class) or "probability" (a_t * sigmoid(s_t) as it is;
  # a_t = 1 for mil), docs/DESIGN.md.
  maps: str = "probability"
  topk_fraction: float = 0.125  # mil: video logit = mean of the top ceil(T / 8) T-CAS values
  hidden_dim: int = 512
  attention_dim: int = 256
  dropout: float = 0.5
  # STPN's beta = 1e-4 on the L1 norm (sum over N = 400 segments) of the attention; we take the
  # mean over each video's segments, so the same strength is 1e-4 * 400 = 0.04. stpn only.
  sparsity_weight: float = 0.04
  learning_rate: float = 1e-4
  steps: int = 2000
  # Foreground seeds: localisation map above this (a "high threshold"). With calibrated
  # probabilities 0.5 (the class more likely present than not) scored higher on the held-out
  # videos than 0.6, 0.7, 0.8 and the earlier 0.9 (summed over 3 seeds and both regimes,
  # docs/RESULTS.md section 1.4); each labelled class's peak is a seed whatever its value.
  fg_seed_threshold: float = 0.5
  # Background seeds, "paper" rule: shot changes plus the lowest-attention segments (3.2.1);
  # "probability" rule: segments whose map is below bg_seed_threshold for every labelled
  # class and at most the bg_seed_null_quantile quantile of the map of the classes the video is
  # not labelled with (1 = no such condition), at least bg_seed_margin segments away from every
  # foreground seed.
  bg_seed_rule: str = "probability"
  bg_seed_threshold: float = 0.1
  bg_seed_null_quantile: float = 0.9
  bg_seed_margin: int = 4
  # With both streams: both train on the same seeds, foreground where either stream's CAS
  # seeds it, background where every stream's does (False: each stream its own, the paper's).
  joint_seeds: bool = True
  # "paper" rule: this fraction of each video's lowest-attention segments ...
  bg_seed_fraction: float = 0.1
  # ... plus shot changes: neighbour feature distance above this many medians.
  shot_change_ratio: float = 2.0
  seeds_file: Optional[str] = None  # read seeds from this file instead of the CAS network


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """The SSG backbone, heatmap head and classifier (paper 3.2.2, 3.3)."""
  hidden_dim: int = 512  # filters of both temporal convolutions
  kernel_size: int = 3  # temporal kernel of both backbone convolutions (1 = the paper's)
  # The heatmap head reads both halves of the opposite-ReLU pair for every channel ("full"),
  # or the action channels read only ReLU(F) and the background channel only ReLU(-F)
  # ("split", paper 3.3: foreground grows in the positive part, background in the negative).
  head: str = "split"
  # Growing (eq. 1) and erasing threshold H renormalised over the background and the video's
  # labels ("labels"), or the softmax over all C+1 channels ("all", the first reading,
  # docs/DESIGN.md "Method").
  label_softmax: bool = True
  # The classifier's loss: "softmax" (eq. 5) or "bce" (a sigmoid per class: the pooled logit
  # of a labelled class must be high in absolute terms, not only above the other classes').
  class_loss: str = "bce"
  # theta_g for the action classes (paper 4.2: 0.99; Figure 4 sweeps 0.8-0.95). Lower grows
  # more of the weak parts of the actions: 0.6 scored higher than 0.8 on the held-out videos of
  # both regimes, and 0.5 higher than 0.6 (summed over 3 seeds and both regimes; docs/RESULTS.md
  # section 1.4).
  growing_threshold_fg: float = 0.5
  growing_threshold_bg: float = 0.99  # theta_g for the background (paper 4.2)
  erasing_threshold: float = 0.4  # theta_a (paper 4.2)
  # The classifier's pooling (Table 1): sap (eq. 2-3) | sap_mean (eq. 3's energy the mean of
  # ReLU(F), not its sum) | gap | gmp | topk (the mean of the top ceil(T_kept / 8) kept
  # segments, W-TALC's). Top-k: tied with GAP on the held-out videos of 3 seeds, above it over
  # 6 seeds of both regimes; the paper's SAP pools a single segment (docs/RESULTS.md 1.4).
  pooling: str = "topk"
  seeding_loss: str = "balanced"  # paper (eq. 4) | balanced (fg and bg normalised apart, DSRG)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """The alternating GradientTape loop (Algorithm 1, paper 3.4)."""
  learning_rate: float = 1e-4  # Adam (paper 4.2)
  steps: int = 2000  # ASSG steps per stream
  checkpoint_every: int = 500
  log_every: int = 50
  validate_every: int = 500  # on the held-out training videos, never the test split
  keep_checkpoints: int = 3


@dataclasses.dataclass(frozen=True)
class PredictConfig:
  """Location prediction (paper 3.5, eq. 6)."""
  rgb_weight: float = 0.3  # lambda (paper 4.2)
  # Classes whose video-level score reaches this are localised (the top class always is).
  class_threshold: float = 0.1
  # Levels 0.05, 0.1, ..., 0.95 (the paper does not give them; a step of 0.1 found fewer of
  # the instances at every tIoU, docs/RESULTS.md section 1.4).
  proposal_thresholds: Tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(1, 20))
  # Width (segments, odd) of the moving average the fused heatmap is smoothed with before the
  # proposals (proposals.smooth); 1 = none, as the paper.
  smoothing: int = 1
  # "mean": eq. 6; "contrast": eq. 6 minus the mean just outside the run (see proposals.py).
  proposal_score: str = "contrast"
  # Gaussian Soft-NMS (Bodla et al., ICCV 2017): each kept proposal multiplies the scores of
  # the other proposals of its class by exp(-tIoU^2 / sigma) instead of removing those above
  # nms_threshold; 0 = hard NMS at nms_threshold (the paper's "removing highly overlapped ones",
  # 3.5; TensorFlow's convention for soft_nms_sigma). 0.5 is Bodla et al.'s; 0.2-1.0 scored
  # within 0.3 (THUMOS-like) and 0.8 (ActivityNet-like) points on the held-out videos (RESULTS 1.4).
  soft_nms_sigma: float = 0.5
  nms_threshold: float = 0.5  # hard NMS only (soft_nms_sigma = 0)
  # Which network's video-level class scores pick the classes to localise (and are served as
  # video_scores): "own" = the variant's own classifier (SAP without erasing for SSG/ASSG);
  # "cas" = the CAS seed network's, which is trained for classification alone.
  video_scores: str = "cas"
  # Proposal score += this weight * the video-level score of its class (BaS-Net).
  video_score_weight: float = 0.0
  # Choose rgb_weight, proposal_score and video_score_weight on the validation split
  # (selection.py) before the test evaluation; the values above are the first candidate.
  select_on_validation: bool = True
  # Per video, after NMS. THUMOS'14 test videos have up to 218 instances, so a cap of 100
  # would lose ground truth before evaluation.
  max_detections: int = 500


@dataclasses.dataclass(frozen=True)
class EvalConfig:
  """Evaluation protocol (docs/DESIGN.md "Evaluation")."""
  tiou_thresholds: Tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
  thumos_ambiguous: bool = False  # drop detections on Ambiguous segments, as the challenge does


@dataclasses.dataclass(frozen=True)
class Config:
  """Everything one `assg_tf.train` run needs."""
  data: DataConfig = DataConfig()
  cas: CASConfig = CASConfig()
  model: ModelConfig = ModelConfig()
  train: TrainConfig = TrainConfig()
  predict: PredictConfig = PredictConfig()
  eval: EvalConfig = EvalConfig()
  model_dir: str = "/tmp/assg_tf"
  variants: Tuple[str, ...] = ("cas", "assg")  # what train.py trains and evaluates
  streams: Tuple[str, ...] = ("rgb", "flow")


# The paper's exact method (sections 3 and 4.2, with docs/DESIGN.md "Method"'s reading where it is
# silent): the
# settings that the defaults above depart from, each departure named in docs/DESIGN.md
# ("Departures from the paper") and measured in docs/RESULTS.md. `configs/*_paper.flags`
# spell out the same values (tests/test_flags.py checks that they agree).
PAPER = {
    "data": {"standardize": False},
    "cas": {"network": "stpn", "kernel_size": 1, "loss": "softmax", "maps": "minmax",
            "fg_seed_threshold": 0.8, "bg_seed_rule": "paper", "joint_seeds": False},
    "model": {"kernel_size": 1, "head": "full", "label_softmax": False,
              "class_loss": "softmax", "seeding_loss": "paper",
              "growing_threshold_fg": 0.99, "growing_threshold_bg": 0.99,
              "erasing_threshold": 0.4, "pooling": "sap"},
    "predict": {"rgb_weight": 0.3, "proposal_score": "mean", "video_scores": "own",
                "video_score_weight": 0.0, "smoothing": 1, "soft_nms_sigma": 0.0,
                "select_on_validation": False},
}


def paper_preset(cfg: Config) -> Config:
  """`cfg` with the method settings of the paper (PAPER); data, scale and schedule unchanged."""
  return dataclasses.replace(cfg, **{
      section: dataclasses.replace(getattr(cfg, section), **changes)
      for section, changes in PAPER.items()})


# The tfds configs of the `wtal` builder (datasets/wtal), i.e. the valid `DataConfig.dataset`s.
# `<benchmark>_rgb`: the RGB stream alone (flow of width 0; docs/DESIGN.md "RGB-only data").
DATASETS = ("synthetic", "synthetic_thumos", "synthetic_anet", "thumos14", "activitynet13",
            "thumos14_rgb", "activitynet13_rgb")
RGB_ONLY_SUFFIX = "_rgb"


def benchmark(dataset: str) -> str:
  """The benchmark whose annotations and layouts a dataset reads (`thumos14_rgb` -> `thumos14`;
  a synthetic dataset is its own name)."""
  return dataset[:-len(RGB_ONLY_SUFFIX)] if dataset.endswith(RGB_ONLY_SUFFIX) else dataset


def dataset_streams(dataset: str) -> Tuple[str, ...]:
  """The streams a dataset has: rgb alone for the `_rgb` configs, else both."""
  return ("rgb",) if dataset.endswith(RGB_ONLY_SUFFIX) else STREAMS


def _positive_int(x) -> bool:
  return isinstance(x, numbers.Integral) and not isinstance(x, bool) and x > 0


def _positive_number(x) -> bool:  # finite: a NaN or infinite learning rate trains nothing
  return isinstance(x, numbers.Real) and math.isfinite(x) and x > 0


def _in_unit(x) -> bool:  # (0, 1]
  return 0.0 < x <= 1.0


# The fields that take one of a choice list, per section.
_CHOICES = {
    DataConfig: {"dataset": DATASETS},
    CASConfig: {"network": CAS_NETWORKS, "loss": VIDEO_LOSSES, "maps": CAS_MAPS,
                "bg_seed_rule": BG_SEED_RULES},
    ModelConfig: {"pooling": POOLINGS, "head": HEADS, "class_loss": VIDEO_LOSSES,
                  "seeding_loss": SEEDING_LOSSES},
    PredictConfig: {"video_scores": VIDEO_SCORES, "proposal_score": PROPOSAL_SCORES},
}
# Fields that must be positive ints, per section.
_POSITIVE_INTS = {
    DataConfig: ("num_segments", "batch_size", "shuffle_buffer"),
    CASConfig: ("kernel_size", "hidden_dim", "attention_dim"),
    ModelConfig: ("kernel_size", "hidden_dim"),
    TrainConfig: ("checkpoint_every", "log_every", "validate_every", "keep_checkpoints"),
    PredictConfig: ("max_detections", "smoothing"),
}
# The other checks: for each section, (field, check, what is expected).
_CHECKS = {
    CASConfig: [
        ("topk_fraction", _in_unit, "a number in (0, 1]"),
        ("steps", lambda x: x >= 0, "a non-negative int"),
        ("learning_rate", _positive_number, "a positive number"),
        ("dropout", lambda x: 0 <= x < 1, "a number in [0, 1)"),
        ("bg_seed_null_quantile", lambda x: 0 <= x <= 1, "a number in [0, 1]"),
    ],
    ModelConfig: [
        (name, _in_unit, "a number in (0, 1]")
        for name in ("erasing_threshold", "growing_threshold_fg", "growing_threshold_bg")],
    TrainConfig: [
        ("steps", lambda x: x >= 0, "a non-negative int"),
        ("learning_rate", _positive_number, "a positive number"),
    ],
    PredictConfig: [
        ("rgb_weight", lambda x: 0.0 <= x <= 1.0, "a number in [0, 1]"),
        ("nms_threshold", _in_unit, "a number in (0, 1]"),
        ("soft_nms_sigma", lambda x: x >= 0, "a number >= 0 (0: hard NMS)"),
        ("smoothing", lambda x: x % 2 == 1, "an odd number of segments"),
        ("proposal_thresholds", lambda x: bool(x) and all(0 < t < 1 for t in x),
         "a non-empty list of numbers in (0, 1)"),
    ],
    EvalConfig: [
        ("tiou_thresholds", lambda x: bool(x) and all(0 < t <= 1 for t in x),
         "numbers in (0, 1]"),
    ],
    Config: [
        (name, lambda x, c=choices: bool(x) and set(x) <= set(c),
         "a non-empty list of " + ", ".join(choices))
        for name, choices in (("variants", VARIANTS), ("streams", STREAMS))],
}


def _section_checks(cls) -> List[Tuple[str, Any, str]]:
  """Values no run can use, that would fail late (after files are written) or not at all:
  (field, check, what is expected) of one section. `assg_tf.flags.validate` names them by flag.
  """
  return ([(name, lambda x, c=choices: x in c, "one of " + ", ".join(choices))
           for name, choices in _CHOICES.get(cls, {}).items()] +
          [(name, _positive_int, "a positive int") for name in _POSITIVE_INTS.get(cls, ())] +
          _CHECKS.get(cls, []))


def _stream_problems(cfg: Config) -> List[Tuple[str, Any, str]]:
  """Streams the dataset does not have (an `_rgb` dataset has no flow)."""
  have = dataset_streams(cfg.data.dataset)
  if set(cfg.streams) <= set(have):
    return []
  return [("streams", cfg.streams, f"{', '.join(have)} alone: the dataset {cfg.data.dataset} "
           "has no " + ", ".join(s for s in cfg.streams if s not in have) + " stream")]


def problems(cfg) -> List[Tuple[str, Any, str]]:
  """(field, value, expected) of every value of `cfg` that fails its check.

  `cfg` is a Config (fields named `section.field`, e.g. `train.learning_rate`) or one of its
  sections (fields named `field`).
  """
  own = [(name, getattr(cfg, name), expected)
         for name, ok, expected in _section_checks(type(cfg)) if not ok(getattr(cfg, name))]
  if isinstance(cfg, Config):
    return [(f"{f.name}.{name}", value, expected) for f in dataclasses.fields(cfg)
            if dataclasses.is_dataclass(getattr(cfg, f.name))
            for name, value, expected in problems(getattr(cfg, f.name))] + own + (
                _stream_problems(cfg) if not own else [])
  return own


def validate(cfg) -> None:
  """Raises ValueError naming the first bad field of a Config (or of one section) and what was
  expected. Training entry points call it, so configs built in Python are checked like flags."""
  bad = problems(cfg)
  if bad:
    name, value, expected = bad[0]
    raise ValueError(f"{name}={value!r}: expected {expected}")


def from_dict(raw: Dict[str, Any]) -> Config:
  """The inverse of `dataclasses.asdict(Config)` after a JSON round trip (lists -> tuples).

  Keys the current Config does not know (a run of an older version) are ignored; fields the
  run does not name keep their defaults.
  """

  def build(cls, values: Dict[str, Any]):
    kwargs = {}
    for field in dataclasses.fields(cls):
      if field.name not in values:
        continue
      value = values[field.name]
      if dataclasses.is_dataclass(field.default):
        value = build(type(field.default), value)
      elif isinstance(value, list):
        value = tuple(value)
      kwargs[field.name] = value
    return cls(**kwargs)

  return build(Config, raw)

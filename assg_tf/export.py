r"""Exports trained ASSG streams as a TF Serving SavedModel (SPEC sections 5 and 6; paper 3.5).

    python -m assg_tf.export --model_dir=OUT --export_dir=EXPORT [--variant=assg]

writes `EXPORT/<version>/`, a SavedModel that runs with TensorFlow alone (TF Serving, or
`tf.saved_model.load` in a process that never imports assg_tf). Its `serving_default`
signature is SPEC section 6:

    inputs   features            float32 [batch, T, D]  rgb channels then flow channels
             num_segments        int32   [batch]        real length of each (padded) video
    outputs  heatmaps            float32 [batch, T, C+1]  fused heatmap, channel 0 = background
             video_scores        float32 [batch, C]
             detection_segments  float32 [batch, K, 2]  seconds
             detection_scores    float32 [batch, K]
             detection_classes   int32   [batch, K]     0-based class indices
             num_detections      int32   [batch]

The graph is exactly the Python prediction path, `inference.Predictor.forward` (both streams'
forward passes, fusion with lambda, multi-threshold proposals, eq. 6 scores and per-class NMS),
traced once with `None` batch and time, so it serves any T and any batch.

Choices where SPEC is silent:
- Versions follow TF Serving's convention: `EXPORT/<n>/`, `n` one more than the largest integer
  folder already there (1 for the first). The SavedModel is written to a hidden temporary folder
  beside it and renamed into place, so TF Serving, which polls EXPORT, never sees half of one.
- The time base delta (`seconds_per_segment`) is a constant of the export: the model was
  trained on features with that time base, and `num_segments` is all a client sends.
- Bad input at the signature: the signature declares the shapes, but a declared shape is not
  checked when a loaded signature or TF Serving feeds a tensor, so the graph starts with
  `tf.ensure_shape`: a wrong feature width or rank fails there ("Shape of tensor features
  [1,4,65] is not compatible with expected shape [?,?,64]"). T = 0, num_segments outside
  [1, T], a batch size that differs between `features` and `num_segments`, and NaN / inf
  features fail `tf.debugging` assertions with a message saying what was expected. All are
  InvalidArgumentErrors of that one request; the server keeps serving.
- Class names travel with the model three ways: the asset `assets/class_names.txt` (one name a
  line, index = class), the functions `class_names()` -> {"class_names": string [C]} and
  `seconds_per_segment()` -> {"seconds_per_segment": float32 scalar} of the loaded object, also
  exported as the signatures `class_names` and `seconds_per_segment` (no inputs). Likewise
  `feature_dims()` -> {"rgb_dim", "flow_dim"} int32, the widths of the two channel groups.

`read_run` and `load_nets` rebuild a trained run from its model_dir (run.json and the .keras
files); `assg_tf.predict` and `assg_tf.visualize` use them too.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import tempfile
from typing import Any, Dict, Optional, Sequence

from absl import app
from absl import flags
import keras
import tensorflow as tf

from assg_tf import cas as cas_lib  # noqa: F401  (registers CASNet for load_model)
from assg_tf import config as config_lib
from assg_tf import flags as assg_flags
from assg_tf import inference
from assg_tf import input_pipeline
from assg_tf import model as model_lib  # noqa: F401  (registers ASSGNet for load_model)

VARIANTS = ("cas", "ssg", "assg")
STREAMS = ("rgb", "flow")
CLASS_NAMES_ASSET = "class_names.txt"
SIGNATURE_INPUTS = ("features", "num_segments")
SIGNATURE_OUTPUTS = ("heatmaps", "video_scores", "detection_segments", "detection_scores",
                     "detection_classes", "num_detections")


# ---------------------------------------------------------------------------------------------
# Rebuilding a trained run from its model_dir.


def read_run(model_dir: str) -> Dict[str, Any]:
  """Reads `model_dir/run.json` (written by assg_tf.train) and checks the keys we need."""
  path = os.path.join(model_dir, "run.json")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} does not exist; expected the run.json that "
                            f"`python -m assg_tf.train --model_dir={model_dir}` writes")
  try:
    with open(path, encoding="utf-8") as f:
      run = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path} is not valid JSON: {e}") from e
  needed = ("class_names", "rgb_dim", "flow_dim", "seconds_per_segment", "streams", "config")
  missing = [k for k in needed if k not in run]
  if missing:
    raise ValueError(f"{path} lacks the keys {missing}; expected {list(needed)}")
  return run


def config_from_dict(raw: Dict[str, Any]) -> config_lib.Config:
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

  return build(config_lib.Config, raw)


def run_info(run: Dict[str, Any]) -> input_pipeline.DatasetInfo:
  """The DatasetInfo of a run (class names and stream widths), without its data."""
  return input_pipeline.DatasetInfo(class_names=tuple(run["class_names"]),
                                    rgb_dim=int(run["rgb_dim"]), flow_dim=int(run["flow_dim"]),
                                    num_examples=None)


def load_nets(model_dir: str, variant: str = "assg",
              streams: Optional[Sequence[str]] = None) -> Dict[str, keras.Model]:
  """Loads `model_dir/models/<variant>_<stream>.keras` of each trained stream: {stream: net}."""
  if variant not in VARIANTS:
    raise ValueError(f"variant={variant!r}: expected one of {VARIANTS}")
  if streams is None:
    streams = read_run(model_dir)["streams"]
  nets = {}
  for stream in streams:
    path = os.path.join(model_dir, "models", f"{variant}_{stream}.keras")
    if not os.path.isfile(path):
      raise FileNotFoundError(
          f"{path} does not exist; expected the .keras file of the {variant} {stream} network "
          f"(was {variant!r} among the run's --variants?)")
    nets[stream] = keras.saving.load_model(path)
  return nets


def load_score_nets(model_dir: str, cfg: config_lib.Config, variant: str,
                    streams: Sequence[str]) -> Optional[Dict[str, keras.Model]]:
  """The CAS networks when `cfg.predict.video_scores` is "cas" (they give the class scores),
  else None."""
  if cfg.predict.video_scores != "cas":
    return None
  return load_nets(model_dir, "cas", streams)


# ---------------------------------------------------------------------------------------------
# The SavedModel.


class ServingModule(tf.Module):
  """The exported object: the stream networks and the serving function of SPEC 6."""

  def __init__(self, nets: Dict[str, keras.Model], info: input_pipeline.DatasetInfo,
               predict_cfg: config_lib.PredictConfig, seconds_per_segment: float,
               class_names_file: str, score_nets: Optional[Dict[str, keras.Model]] = None):
    super().__init__(name="assg_serving")
    feature_dim = info.rgb_dim + info.flow_dim
    self._feature_dim = feature_dim
    self.nets = dict(nets)  # tracked: the variables are saved with the module
    # tracked too: the CAS networks that give the class scores (PredictConfig.video_scores).
    self.score_nets = dict(score_nets) if score_nets else {}
    self._predictor = inference.Predictor(self.nets, info.rgb_dim, feature_dim, predict_cfg,
                                          score_nets=self.score_nets or None)
    self._class_names = tf.constant(list(info.class_names), tf.string)
    self._seconds_per_segment = tf.constant(float(seconds_per_segment), tf.float32)
    self.class_names_asset = tf.saved_model.Asset(class_names_file)
    self.serve = tf.function(self._serve, input_signature=[
        tf.TensorSpec([None, None, feature_dim], tf.float32, name="features"),
        tf.TensorSpec([None], tf.int32, name="num_segments"),
    ])
    self.class_names = tf.function(lambda: {"class_names": self._class_names},
                                   input_signature=[])
    self.seconds_per_segment = tf.function(
        lambda: {"seconds_per_segment": self._seconds_per_segment}, input_signature=[])
    dims = {"rgb_dim": tf.constant(info.rgb_dim, tf.int32),
            "flow_dim": tf.constant(info.flow_dim, tf.int32)}
    self.feature_dims = tf.function(lambda: dict(dims), input_signature=[])

  def _serve(self, features, num_segments):
    # The signature's shapes are only declarations (a loaded signature or TF Serving feeds any
    # shape). EnsureShape checks rank and width at run time; an assertion on tf.rank would not
    # (grappler folds the rank to the declared 3).
    features = tf.ensure_shape(features, [None, None, self._feature_dim])
    num_segments = tf.ensure_shape(num_segments, [None])
    batch, length = tf.shape(features)[0], tf.shape(features)[1]
    checks = [
        tf.debugging.assert_positive(
            length, message="features: T (axis 1) must be >= 1, got an empty time axis"),
        tf.debugging.assert_equal(
            tf.shape(num_segments)[0], batch,
            message="num_segments must have one entry per video of features (same batch "
            "size as features' axis 0)"),
        tf.debugging.assert_positive(
            num_segments, message="num_segments: every video needs at least 1 segment"),
        tf.debugging.assert_less_equal(
            num_segments, length,
            message="num_segments must not exceed T, the time axis (axis 1) of features"),
        tf.debugging.assert_equal(
            tf.reduce_all(tf.math.is_finite(features)), True,
            message="features must be finite: found NaN or inf"),
    ]
    with tf.control_dependencies(checks):
      features = tf.identity(features)
      num_segments = tf.identity(num_segments)
    deltas = tf.fill([batch], self._seconds_per_segment)
    return self._predictor.forward(features, num_segments, deltas)


def _next_version(export_base: str) -> int:
  versions = [int(name) for name in os.listdir(export_base) if re.fullmatch(r"\d+", name)]
  return max(versions, default=0) + 1


def export_saved_model(nets: Dict[str, keras.Model], info: input_pipeline.DatasetInfo,
                       cfg: config_lib.Config, export_base: str, seconds_per_segment: float,
                       version: Optional[int] = None,
                       score_nets: Optional[Dict[str, keras.Model]] = None) -> str:
  """Writes the SavedModel of `nets` ({stream: net}) to `export_base/<version>/`.

  Args:
    nets: the trained networks of one variant, {"rgb": net, "flow": net} (one stream alone is
      served alone, as `model.two_stream_maps` does).
    info: class names and the rgb / flow feature widths.
    cfg: the run's Config; `cfg.predict` sets fusion, proposals and NMS.
    export_base: the folder TF Serving watches (created if missing).
    seconds_per_segment: delta, the time base of the features, baked into the export.
    version: the version folder; None = one more than the largest existing one (1 if none).
    score_nets: the CAS networks, needed when cfg.predict.video_scores is "cas".

  Returns:
    The path of the written version folder.
  """
  unknown = sorted(set(nets) - set(STREAMS))
  if not nets or unknown:
    raise ValueError(f"nets has streams {sorted(nets)}; expected a non-empty subset of "
                     f"{STREAMS}")
  if not seconds_per_segment > 0:
    raise ValueError(f"seconds_per_segment={seconds_per_segment!r}: expected seconds > 0")
  os.makedirs(export_base, exist_ok=True)
  if version is None:
    version = _next_version(export_base)
  if int(version) < 0:
    raise ValueError(f"version={version!r}: expected a non-negative integer")
  final = os.path.join(export_base, str(int(version)))
  if os.path.exists(final):
    raise FileExistsError(f"{final} already exists; TF Serving versions are never overwritten")
  tmp = tempfile.mkdtemp(dir=export_base, prefix=f".tmp-{int(version)}-")
  try:
    names_file = os.path.join(tmp, CLASS_NAMES_ASSET)  # copied into assets/ by the save
    with open(names_file, "w", encoding="utf-8") as f:
      f.write("".join(f"{name}\n" for name in info.class_names))
    module = ServingModule(nets, info, cfg.predict, seconds_per_segment, names_file,
                           score_nets)
    saved = os.path.join(tmp, "model")
    tf.saved_model.save(module, saved, signatures={
        "serving_default": module.serve,
        "class_names": module.class_names,
        "seconds_per_segment": module.seconds_per_segment,
        "feature_dims": module.feature_dims,
    })
    try:
      os.rename(saved, final)  # atomic; fails if another export took this version meanwhile
    except OSError as e:
      raise FileExistsError(f"{final} appeared while exporting (another export running?); "
                            "nothing was overwritten") from e
  finally:
    shutil.rmtree(tmp, ignore_errors=True)
  return final


# ---------------------------------------------------------------------------------------------
# Command line.

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags; defined only when it runs (assg_tf.train imports this module and has
  its own --model_dir)."""
  flags.DEFINE_string("model_dir", None, "The trained run (run.json, models/*.keras).")
  flags.DEFINE_string("export_dir", None, "Base folder of the SavedModel versions; default "
                      "<model_dir>/export.")
  flags.DEFINE_enum("variant", "assg", VARIANTS, "Which trained variant to export.")
  flags.DEFINE_integer("version", None, "Version folder; default: the next free integer.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model_dir:
    raise app.UsageError("--model_dir is required")
  run = read_run(FLAGS.model_dir)
  nets = load_nets(FLAGS.model_dir, FLAGS.variant, run["streams"])
  cfg = config_from_dict(run["config"])
  path = export_saved_model(nets, run_info(run), cfg,
                            FLAGS.export_dir or os.path.join(FLAGS.model_dir, "export"),
                            float(run["seconds_per_segment"]), FLAGS.version,
                            load_score_nets(FLAGS.model_dir, cfg, FLAGS.variant, run["streams"]))
  print(f"exported {FLAGS.variant} ({', '.join(sorted(nets))}) to {path}")


if __name__ == "__main__":
  define_flags()
  app.run(assg_flags.with_clear_errors(main))

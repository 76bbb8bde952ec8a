"""The TF Serving SavedModel of trained ASSG streams (docs/DESIGN.md "Serving"; paper 3.5).

`export_saved_model` (used by `python -m assg_tf.export` and at the end of training) writes
`EXPORT/<version>/`, a SavedModel that runs with TensorFlow alone (TF Serving, or
`tf.saved_model.load` in a process that never imports assg_tf). Its `serving_default`
signature is docs/DESIGN.md "Serving":

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

Choices where the design leaves it open:
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
"""
from __future__ import annotations

import os
import shutil
import tempfile
from typing import Dict, Optional

import keras
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import inference
from assg_tf import run_dir

CLASS_NAMES_ASSET = "class_names.txt"
SIGNATURE_INPUTS = ("features", "num_segments")
SIGNATURE_OUTPUTS = ("heatmaps", "video_scores", "detection_segments", "detection_scores",
                     "detection_classes", "num_detections")


class ServingModule(tf.Module):
  """The exported object: the stream networks and the serving function of docs/DESIGN.md
  "Serving"."""

  def __init__(self, nets: Dict[str, keras.Model], info: config_lib.DatasetInfo,
               predict_cfg: config_lib.PredictConfig, class_names_file: str,
               score_nets: Optional[Dict[str, keras.Model]] = None):
    super().__init__(name="assg_serving")
    feature_dim = info.feature_dim
    self._feature_dim = feature_dim
    self.nets = dict(nets)  # tracked: the variables are saved with the module
    # tracked too: the CAS networks that give the class scores (PredictConfig.video_scores).
    self.score_nets = dict(score_nets) if score_nets else {}
    self._predictor = inference.Predictor(self.nets, info, predict_cfg,
                                          score_nets=self.score_nets or None)
    self._class_names = tf.constant(list(info.class_names), tf.string)
    self._seconds_per_segment = tf.constant(float(info.seconds_per_segment), tf.float32)
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


def export_saved_model(nets: Dict[str, keras.Model], info: config_lib.DatasetInfo,
                       cfg: config_lib.Config, export_base: str, version: Optional[int] = None,
                       score_nets: Optional[Dict[str, keras.Model]] = None) -> str:
  """Writes the SavedModel of `nets` ({stream: net}) to `export_base/<version>/`.

  Args:
    nets: the trained networks of one variant, {"rgb": net, "flow": net} (one stream alone is
      served alone, as `model.fuse_streams` does).
    info: class names, the rgb / flow feature widths and seconds_per_segment (delta, the time
      base of the features, baked into the export).
    cfg: the run's Config; `cfg.predict` sets fusion, proposals and NMS.
    export_base: the folder TF Serving watches (created if missing).
    version: the version folder; None = one more than the largest existing one (1 if none).
    score_nets: the CAS networks, needed when cfg.predict.video_scores is "cas".

  Returns:
    The path of the written version folder.
  """
  unknown = sorted(set(nets) - set(config_lib.STREAMS))
  if not nets or unknown:
    raise ValueError(f"nets has streams {sorted(nets)}; expected a non-empty subset of "
                     f"{config_lib.STREAMS}")
  seconds_per_segment = info.seconds_per_segment
  if seconds_per_segment is None or not seconds_per_segment > 0:
    raise ValueError(f"seconds_per_segment={seconds_per_segment!r}: expected seconds > 0")
  os.makedirs(export_base, exist_ok=True)
  if version is None:
    version = max(run_dir.versions(export_base), default=0) + 1
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
    module = ServingModule(nets, info, cfg.predict, names_file, score_nets)
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

"""Detections for whole videos: the forward pass of the trained streams, fusion and proposals.

Paper 3.5: the streams' heatmaps are fused with lambda (eq. 6, `model.fuse_streams`), then
`proposals.detect` thresholds them at several levels, scores each run by eq. 6 and applies
per-class NMS. `Predictor` runs it as tf.functions with `None` batch and time (traced once, for
every video length): the networks' pass, then fusion and detection, so that many post-processing
settings can share one network pass (selection.py); `serving.py` wraps the same functions in
the SavedModel.

For new videos (`python -m assg_tf.predict`), `Model` is what prediction needs of a trained
model, either a run directory's networks (`model_from_run`) or an exported SavedModel
(`model_from_saved_model`); `predict_videos` runs one on padded batches, `predict_files` on
feature files, `predict_video_files` on video files (RGB-only runs: the I3D RGB features are
extracted first, `extraction.features_for_run`, and any flow columns the run's features have
are zeros, which an RGB-only run never reads: `with_zero_flow`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import evaluation
from assg_tf import extraction
from assg_tf import features as features_lib
from assg_tf import model as model_lib
from assg_tf import proposals
from assg_tf import run_dir
from assg_tf import video as video_lib

# (features [B, T, D] float32, num_segments [B] int32) -> the outputs of docs/DESIGN.md "Serving".
ForwardFn = Callable[[np.ndarray, np.ndarray], Mapping[str, tf.Tensor]]


class Predictor:
  """Heatmaps, video scores and detections of a dict of trained stream networks.

  Prediction is two tf.functions: `stream_outputs` runs the networks (each stream's heatmaps
  and video scores), `detect` fuses the streams (eq. 6) and finds the detections with this
  predictor's PredictConfig; `forward` is both. `with_config` gives a predictor of the same
  networks with other post-processing settings, which can reuse the stream outputs computed
  once (`stream_outputs_of`): selection.py scores its whole grid with one network pass.
  """

  def __init__(self, nets: Dict[str, object], info: config_lib.DatasetInfo,
               cfg: config_lib.PredictConfig, score_nets: Dict[str, object] = None,
               _detect_functions: Optional[dict] = None):
    """`nets` {stream: network} read their stream of the joint features `info` describes;
    `score_nets` (the CAS networks) give the video scores when cfg.video_scores is "cas"."""
    if cfg.video_scores == "cas" and not score_nets:
      raise ValueError('PredictConfig.video_scores="cas" needs the CAS networks (score_nets)')
    self.nets = dict(nets)
    # The networks that give the video scores when they are not `nets` themselves.
    use_scores = cfg.video_scores == "cas" and score_nets is not nets
    self.score_nets = dict(score_nets) if use_scores else None
    self.info = info
    self.cfg = cfg
    features = tf.TensorSpec([None, None, info.feature_dim], tf.float32, name="features")
    lengths = tf.TensorSpec([None], tf.int32, name="num_segments")
    deltas = tf.TensorSpec([None], tf.float32, name="seconds_per_segment")
    per_stream = lambda streams, shape: {s: tf.TensorSpec(shape, tf.float32) for s in streams}
    outputs = {"heatmaps": per_stream(self.nets, [None, None, info.num_classes + 1]),
               "video_scores": per_stream(self.score_nets or self.nets, [None, info.num_classes])}
    self.forward = tf.function(self._forward, input_signature=[features, lengths, deltas])
    self.stream_outputs = tf.function(self._stream_outputs,
                                      input_signature=[features, lengths])
    self.detect = tf.function(self._detect, input_signature=[outputs, lengths, deltas])
    # `with_config`'s detection functions, shared by every predictor it makes from this one:
    # {settings but the two weights: tf.function taking the weights as tensors}.
    self._detect_functions = {} if _detect_functions is None else _detect_functions
    self._signature = [outputs, lengths, deltas, tf.TensorSpec([], tf.float32, "rgb_weight"),
                       tf.TensorSpec([], tf.float32, "video_score_weight")]

  def with_config(self, cfg: config_lib.PredictConfig) -> "Predictor":
    """The same networks under other post-processing settings (stream outputs unchanged).

    Its `detect` takes rgb_weight and video_score_weight as tensors, so the settings that
    differ only in them share one traced function (selection.py's grid: one trace per smoothing
    and proposal score, not one per candidate)."""
    if cfg.video_scores != self.cfg.video_scores:
      raise ValueError(f"with_config keeps the video scores' source: video_scores="
                       f"{cfg.video_scores!r}, expected {self.cfg.video_scores!r}")
    proposals.check_config(cfg)
    other = Predictor(self.nets, self.info, cfg,
                      score_nets=self.score_nets if self.score_nets is not None else self.nets,
                      _detect_functions=self._detect_functions)
    key = dataclasses.replace(cfg, rgb_weight=0.0, video_score_weight=0.0)
    if key not in self._detect_functions:

      def detect_weighted(outputs, lengths, deltas, rgb_weight, video_score_weight):
        return self._detect_with(key, outputs, lengths, deltas, rgb_weight, video_score_weight)

      self._detect_functions[key] = tf.function(detect_weighted,
                                                input_signature=self._signature)
    weights = (tf.constant(cfg.rgb_weight, tf.float32),
               tf.constant(cfg.video_score_weight, tf.float32))
    detect = self._detect_functions[key]
    other.detect = lambda outputs, lengths, deltas: detect(outputs, lengths, deltas, *weights)
    return other

  def _stream_outputs(self, features, num_segments):
    # An empty batch (a serving request may have none) runs the networks on one zero video and
    # keeps none of it: with oneDNN (TensorFlow 2.21 on AVX-512 CPUs) a convolution of an
    # empty batch returns its input unchanged, [0, T, D] instead of [0, T, filters], and the
    # bias add that follows fails.
    batch = tf.shape(features)[0]
    features, num_segments = tf.cond(
        batch > 0, lambda: (features, num_segments),
        lambda: (tf.zeros(tf.concat([[1], tf.shape(features)[1:]], 0), features.dtype),
                 tf.shape(features)[1:2]))
    mask = tf.sequence_mask(num_segments, tf.shape(features)[1], dtype=tf.float32)
    rgb_dim = self.info.rgb_dim
    heatmaps, video_scores = model_lib.per_stream_maps(self.nets, features, mask, rgb_dim)
    if self.score_nets is not None:
      _, video_scores = model_lib.per_stream_maps(self.score_nets, features, mask, rgb_dim)
    return tf.nest.map_structure(lambda t: t[:batch],
                                 {"heatmaps": heatmaps, "video_scores": video_scores})

  def _detect(self, stream_outputs, num_segments, seconds_per_segment):
    return self._detect_with(self.cfg, stream_outputs, num_segments, seconds_per_segment,
                             self.cfg.rgb_weight, self.cfg.video_score_weight)

  @staticmethod
  def _detect_with(cfg, stream_outputs, num_segments, seconds_per_segment, rgb_weight,
                   video_score_weight):
    heatmaps = model_lib.fuse_streams(stream_outputs["heatmaps"], rgb_weight)
    video_scores = model_lib.fuse_streams(stream_outputs["video_scores"], rgb_weight)
    outputs = proposals.detect(heatmaps, num_segments, video_scores, seconds_per_segment, cfg,
                               video_score_weight=video_score_weight)
    return {"heatmaps": heatmaps, "video_scores": video_scores, **outputs}

  def _forward(self, features, num_segments, seconds_per_segment):
    return self._detect(self._stream_outputs(features, num_segments), num_segments,
                        seconds_per_segment)

  def stream_outputs_of(self, batches: tf.data.Dataset) -> List[Tuple[dict, dict]]:
    """The networks' part of prediction over evaluation batches, computed once: a list of
    (the batch without its features, `stream_outputs`) for `predict_dataset`."""
    return [({k: v for k, v in batch.items() if k != "features"},
             self.stream_outputs(batch["features"], batch["num_segments"]))
            for batch in batches]

  def predict_dataset(self, batches, class_names: Sequence[str]
                      ) -> Tuple[dict, np.ndarray, np.ndarray, List[str]]:
    """Runs over evaluation batches (`input_pipeline.eval_dataset`), or over the stream
    outputs `stream_outputs_of` computed of them (by this predictor or one of `with_config`).

    Returns (ActivityNet results dict {video_id: [{label, segment, score}]}, video scores
    [V, C], video labels [V, C], video ids).
    """
    if isinstance(batches, tf.data.Dataset):  # one network pass per batch of whole videos
      batches = ((batch, self.stream_outputs(batch["features"], batch["num_segments"]))
                 for batch in batches)
    results, scores, labels, ids = {}, [], [], []
    for batch, stream_outputs in batches:
      out = self.detect(stream_outputs, batch["num_segments"], batch["seconds_per_segment"])
      out = {k: v.numpy() for k, v in out.items() if k != "heatmaps"}
      video_ids = [v.decode() for v in batch["video_id"].numpy()]
      results.update(proposals.to_results(out, video_ids, class_names))
      scores.append(out["video_scores"])
      labels.append(batch["labels"].numpy())
      ids.extend(video_ids)
    num_classes = len(class_names)
    return (results, np.concatenate(scores) if scores else np.zeros([0, num_classes]),
            np.concatenate(labels) if labels else np.zeros([0, num_classes]), ids)


# ---------------------------------------------------------------------------------------------
# New videos: a trained run or an exported SavedModel (`python -m assg_tf.predict`).


def predict_videos(videos: Sequence[Tuple[str, np.ndarray]], forward: ForwardFn,
                   class_names: Sequence[str], batch_size: int = 8
                   ) -> Dict[str, List[Dict[str, object]]]:
  """Detections of every video in the ActivityNet results dict {video_id: [{label, segment,
  score}]} (`proposals.to_results`).

  Videos are sorted by length and padded to the longest of each batch of `batch_size`.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size={batch_size}: expected a positive int")
  order = sorted(range(len(videos)), key=lambda i: videos[i][1].shape[0])
  results = {}
  for lo in range(0, len(order), batch_size):  # one call per batch
    chunk = [videos[i] for i in order[lo:lo + batch_size]]
    lengths = np.array([x.shape[0] for _, x in chunk], np.int32)
    batch = np.zeros([len(chunk), lengths.max(), chunk[0][1].shape[1]], np.float32)
    for row, (_, x) in enumerate(chunk):
      batch[row, :x.shape[0]] = x
    outputs = forward(batch, lengths)
    outputs = {key: np.asarray(outputs[key]) for key in proposals.OUTPUT_KEYS}
    results.update(proposals.to_results(outputs, [video for video, _ in chunk], class_names))
  return results


class Model:
  """What prediction needs of a trained model: widths, class names and its forward pass."""

  def __init__(self, rgb_dim: int, flow_dim: int, class_names: Sequence[str],
               seconds_per_segment: float, forward: ForwardFn):
    self.rgb_dim = rgb_dim
    self.flow_dim = flow_dim
    self.class_names = tuple(class_names)
    self.seconds_per_segment = seconds_per_segment
    self.forward = forward


def model_from_run(model_dir: str, variant: str = "assg") -> Model:
  """The networks of a trained run (.keras files) behind `Predictor`."""
  run = run_dir.read_run(model_dir)
  info = run.info
  predictor = Predictor(run_dir.load_nets(model_dir, variant, run.streams), info,
                        run.config.predict,
                        score_nets=run_dir.load_score_nets(model_dir, run.config, run.streams))
  delta = info.seconds_per_segment

  def forward(features, num_segments):
    return predictor.forward(features, num_segments,
                             np.full([len(num_segments)], delta, np.float32))

  return Model(info.rgb_dim, info.flow_dim, info.class_names, delta, forward)


def saved_model_path(export_dir: str) -> str:
  """A SavedModel folder: `export_dir` itself, or its highest integer version subfolder."""
  if os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
    return export_dir
  versions = run_dir.versions(export_dir, saved_models_only=True)
  if not versions:
    raise FileNotFoundError(f"{export_dir} is neither a SavedModel (no saved_model.pb) nor a "
                            "folder of numbered SavedModel versions")
  return os.path.join(export_dir, str(max(versions)))


def model_from_saved_model(export_dir: str) -> Model:
  """An exported SavedModel (`serving.py`) behind its `serving_default` signature."""
  loaded = tf.saved_model.load(saved_model_path(export_dir))
  serve = loaded.signatures["serving_default"]
  dims = {k: int(v) for k, v in loaded.feature_dims().items()}
  names = [n.decode("utf-8") for n in loaded.class_names()["class_names"].numpy()]
  delta = float(loaded.seconds_per_segment()["seconds_per_segment"])

  def forward(features, num_segments):
    return serve(features=tf.constant(features, tf.float32),
                 num_segments=tf.constant(num_segments, tf.int32))

  model = Model(dims["rgb_dim"], dims["flow_dim"], names, delta, forward)
  model.loaded = loaded  # keeps the restored variables alive with the signature
  return model


def predict_files(features: str, output: str, model_dir: Optional[str] = None,
                  export_dir: Optional[str] = None, variant: str = "assg",
                  flow_features: Optional[str] = None, batch_size: int = 8
                  ) -> Dict[str, list]:
  """`python -m assg_tf.predict` without its flags: reads the features (`features.read_features`),
  predicts, writes `output` (ActivityNet results format); returns the results."""
  if (model_dir is None) == (export_dir is None):
    raise ValueError("give exactly one of model_dir (a trained run) and export_dir (a "
                     "SavedModel)")
  model = (model_from_run(model_dir, variant) if model_dir is not None
           else model_from_saved_model(export_dir))
  videos = features_lib.read_features(features, model.rgb_dim, model.flow_dim, flow_features)
  results = predict_videos(videos, model.forward, model.class_names, batch_size)
  evaluation.write_predictions(output, results)
  return results


def with_zero_flow(videos: Sequence[Tuple[str, np.ndarray]], flow_dim: int
                   ) -> List[Tuple[str, np.ndarray]]:
  """RGB features [T, rgb_dim] -> [T, rgb_dim + flow_dim] with zero flow columns (never read by
  an RGB-only run; none at all when the run's data is RGB-only, flow_dim = 0)."""
  return [(v, np.concatenate([x, np.zeros([len(x), flow_dim], np.float32)], axis=1))
          for v, x in videos]


def predict_video_files(videos: str, output: str, model_dir: str, variant: str = "assg",
                        batch_size: int = 8, i3d_checkpoint: Optional[str] = None,
                        video_features: Optional[str] = None,
                        extractor: Optional[extraction.Extractor] = None,
                        show_progress: bool = True) -> Dict[str, list]:
  """`python -m assg_tf.predict --video` without its flags: extracts (or finds cached, under
  `extraction.cache_root(output, video_features)`) the I3D RGB features of `videos` (a file or
  a folder) for the RGB-only run `model_dir`, predicts, writes `output`; returns the results."""
  root = extraction.cache_root(output, video_features)
  extraction.features_for_run(videos, model_dir, root, i3d_checkpoint, extractor, show_progress)
  model = model_from_run(model_dir, variant)
  rgb = [video for video_id, _ in video_lib.list_videos(videos)
         for video in features_lib.read_features(
             extraction.feature_path(root, "test", video_id), model.rgb_dim, 0)]
  results = predict_videos(with_zero_flow(rgb, model.flow_dim), model.forward,
                           model.class_names, batch_size)
  evaluation.write_predictions(output, results)
  return results

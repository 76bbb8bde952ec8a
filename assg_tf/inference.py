"""Detections for whole videos: the forward pass of the trained streams, fusion and proposals.

Paper 3.5: the streams' heatmaps are fused with lambda (eq. 6, `model.two_stream_maps`), then
`proposals.detect` thresholds them at several levels, scores each run by eq. 6 and applies
per-class NMS. The whole computation is one tf.function with `None` batch and time, traced once
for every video length; `export.py` wraps the same function in the SavedModel.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf

from assg_tf import config as config_lib
from assg_tf import model as model_lib
from assg_tf import proposals


class Predictor:
  """Heatmaps, video scores and detections of a dict of trained stream networks."""

  def __init__(self, nets: Dict[str, object], rgb_dim: int, feature_dim: int,
               cfg: config_lib.PredictConfig, score_nets: Dict[str, object] = None):
    """`score_nets` (the CAS networks) give the video scores when cfg.video_scores is "cas"."""
    if cfg.video_scores == "cas" and not score_nets:
      raise ValueError('PredictConfig.video_scores="cas" needs the CAS networks (score_nets)')
    self.nets = dict(nets)
    self.score_nets = dict(score_nets) if cfg.video_scores == "cas" else None
    self.rgb_dim = rgb_dim
    self.cfg = cfg
    self.forward = tf.function(self._forward, input_signature=[
        tf.TensorSpec([None, None, feature_dim], tf.float32, name="features"),
        tf.TensorSpec([None], tf.int32, name="num_segments"),
        tf.TensorSpec([None], tf.float32, name="seconds_per_segment"),
    ])

  def _forward(self, features, num_segments, seconds_per_segment):
    mask = tf.sequence_mask(num_segments, tf.shape(features)[1], dtype=tf.float32)
    heatmaps, video_scores = model_lib.two_stream_maps(
        self.nets, features, mask, self.rgb_dim, self.cfg.rgb_weight)
    if self.score_nets is not None and self.score_nets is not self.nets:
      _, video_scores = model_lib.two_stream_maps(
          self.score_nets, features, mask, self.rgb_dim, self.cfg.rgb_weight)
    outputs = proposals.detect(heatmaps, num_segments, video_scores, seconds_per_segment,
                               self.cfg)
    return {"heatmaps": heatmaps, "video_scores": video_scores, **outputs}

  def predict_dataset(self, batches: tf.data.Dataset, class_names: Sequence[str]
                      ) -> Tuple[dict, np.ndarray, np.ndarray, List[str]]:
    """Runs over evaluation batches (`input_pipeline.eval_dataset`).

    Returns (ActivityNet results dict {video_id: [{label, segment, score}]}, video scores
    [V, C], video labels [V, C], video ids).
    """
    results, scores, labels, ids = {}, [], [], []
    for batch in batches:  # one step per batch of whole videos
      out = self.forward(batch["features"], batch["num_segments"],
                         batch["seconds_per_segment"])
      out = {k: v.numpy() for k, v in out.items() if k != "heatmaps"}
      video_ids = [v.decode() for v in batch["video_id"].numpy()]
      results.update(proposals.to_results(out, video_ids, class_names))
      scores.append(out["video_scores"])
      labels.append(batch["labels"].numpy())
      ids.extend(video_ids)
    num_classes = len(class_names)
    return (results, np.concatenate(scores) if scores else np.zeros([0, num_classes]),
            np.concatenate(labels) if labels else np.zeros([0, num_classes]), ids)

"""Losses of ASSG (paper 3.4, eq. 4-5) and of the STPN-style CAS network that seeds it.

Every function returns one loss per video, [B]; `replica_mean` turns that into the per-replica
share of the global-batch mean (`tf.nn.compute_average_loss`), which is what a
tf.distribute replica must minimise so that summing gradients over replicas gives the gradient
of the global mean.
"""
from __future__ import annotations

import tensorflow as tf

from assg_tf import config as config_lib


def seeding_loss(heatmap_logits, grown):
  """Eq. 4: -1 / sum_c |T_c| * sum_c sum_{t in T_c} log H[c, t], per video.

  heatmap_logits [B, T, C+1] (H = their softmax over channels); grown [B, T, C+1] the grown
  labels T_c (1 where t is in T_c; padding is never labelled). A video with no labelled segment
  contributes 0.
  """
  log_h = tf.nn.log_softmax(heatmap_logits, axis=-1)
  total = tf.reduce_sum(grown * log_h, axis=[1, 2])
  count = tf.reduce_sum(grown, axis=[1, 2])
  return -total / tf.maximum(count, 1.0)


def balanced_seeding_loss(heatmap_logits, grown):
  """Eq. 4 with the foreground and background terms normalised separately, per video.

  -1/|T_fg| sum_{c >= 1} sum_{t in T_c} log H[c, t] - 1/|T_0| sum_{t in T_0} log H[0, t]:
  the seeding loss of DSRG [8], the growing method ASSG adapts. Eq. 4 divides both by the
  total count, so when background regions grow over most of a video the few foreground
  segments weigh almost nothing; here each side weighs the same. An option
  (`ModelConfig.seeding_loss="balanced"`), not the paper's default.
  """
  log_h = tf.nn.log_softmax(heatmap_logits, axis=-1)
  fg_total = tf.reduce_sum(grown[..., 1:] * log_h[..., 1:], axis=[1, 2])
  fg_count = tf.reduce_sum(grown[..., 1:], axis=[1, 2])
  bg_total = tf.reduce_sum(grown[..., 0] * log_h[..., 0], axis=1)
  bg_count = tf.reduce_sum(grown[..., 0], axis=1)
  return -fg_total / tf.maximum(fg_count, 1.0) - bg_total / tf.maximum(bg_count, 1.0)


def classification_loss(video_logits, labels):
  """Eq. 5: -sum_c ŷ_c log softmax(SAP)_c with ŷ the multi-hot label normalised to sum 1.

  video_logits [B, C] (SAP of eq. 2), labels [B, C] multi-hot -> [B]. Videos must have at least
  one label (the input pipeline refuses empty label sets).
  """
  target = labels / tf.maximum(tf.reduce_sum(labels, axis=-1, keepdims=True), 1.0)
  return -tf.reduce_sum(target * tf.nn.log_softmax(video_logits, axis=-1), axis=-1)


def multilabel_loss(video_logits, labels):
  """Binary cross-entropy of a sigmoid per class, averaged over the C classes, per video [B]:
  the `bce` option of the CAS network and the classifier (W-TALC / BaS-Net use it too). Unlike
  eq. 5's softmax, which only ranks the classes of a video, it fixes the scale of a logit:
  a labelled class must score high in absolute terms, every other class low."""
  per_class = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=video_logits)
  return tf.reduce_mean(per_class, axis=-1)


VIDEO_LOSSES = config_lib.VIDEO_LOSSES  # named once, in assg_tf.config


def video_loss(kind: str):
  """The video-level loss named by a config: "softmax" (eq. 5) or "bce"."""
  losses = dict(zip(VIDEO_LOSSES, (classification_loss, multilabel_loss)))
  if kind not in losses:
    raise ValueError(f"video-level loss {kind!r}: expected one of {sorted(losses)}")
  return losses[kind]


def video_probabilities(kind: str, video_logits):
  """Video-level class scores [B, C] from logits, as the `kind` loss reads them: a softmax over
  the classes ("softmax") or a sigmoid per class ("bce")."""
  if kind == "bce":
    return tf.sigmoid(video_logits)
  return tf.nn.softmax(video_logits, axis=-1)


def attention_sparsity(attention, mask):
  """STPN's sparsity loss: the mean L1 norm of the attention over each video's segments."""
  return tf.reduce_sum(tf.abs(attention) * mask, axis=1) / tf.maximum(
      tf.reduce_sum(mask, axis=1), 1.0)


def replica_mean(per_video, global_batch_size):
  """This replica's share of the mean over the global batch (`compute_average_loss`)."""
  return tf.nn.compute_average_loss(per_video, global_batch_size=global_batch_size)

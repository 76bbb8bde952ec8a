"""The self-adaptive action classifier: erasing and Self-Adaptive Pooling (paper 3.3, eq. 2-3).

Erasing (Algorithm 1 lines 14-15; docs/DESIGN.md "Method"): for every class c the video is labelled
with, the
segments where H[c, t] > theta_a are removed from the foreground map ReLU(F); the mask carries
no gradient (it is a thresholding of the current heatmap).

Self-Adaptive Pooling, eq. 2-3:

    A[c, t] = exp(s[c, t]) / sum_t' exp(s[c, t']),  s[c, t] = sum_i ReLU(F)~[c, t, i]   (eq. 3)
    SAP[c]  = sum_t A[c, t] * Ĥ[c, t]                                                    (eq. 2)

where ReLU(F)~ is the erased foreground map of class c and Ĥ[c, t] the heatmap layer's
foreground weights applied to it (`layers.HeatmapHead.foreground_logits`). Padding and erased
segments take no part in the softmax over t. Class probabilities are the softmax over the C
classes of SAP (eq. 5 takes their log).

Neither quantity needs the erased map of every class materialised ([B, C, T, 512] would not fit
for ActivityNet's 200 classes): erasing a segment only removes it, so Ĥ[c, t] equals the
unerased foreground logit at every kept segment and s[c, t] equals the unerased feature sum
there. Pooling over the kept segments of each class is therefore exact and costs O(B·T·C).

If a class has no kept segment (everything erased), its pooled logit is 0.

GAP and GMP (the Table 1 ablation) average or take the maximum of Ĥ over the same segments;
`topk` (our addition, docs/DESIGN.md) averages its k = ceil(T_kept / 8) largest values over
them, W-TALC's multiple-instance pooling, which the CAS network uses too (`topk_mean`).
`sap_mean` is SAP with s the mean of ReLU(F) over its channels instead of the sum (the caller,
`model.ASSGNet.classify`, computes s): summed over 128-512 channels, s varies by tens from one
segment to the next and eq. 3's softmax puts all its weight on one segment (docs/RESULTS.md
section 1.4). The defaults pool by GAP (docs/DESIGN.md).
"""
from __future__ import annotations

import keras
from keras import ops

POOLING_METHODS = ("sap", "sap_mean", "gap", "gmp", "topk")
TOPK_FRACTION = 0.125  # W-TALC's k = ceil(T / 8), the CAS network's default too


def erasing_keep_mask(heatmaps, labels, threshold):
  """1 where a segment stays for class c, 0 where SSG erases it (Alg. 1 lines 14-15).

  heatmaps [B, T, C+1] probabilities, labels [B, C] multi-hot -> keep [B, T, C] float32.
  Only the classes the video is labelled with are erased (docs/DESIGN.md "Method").
  """
  high = ops.cast(ops.stop_gradient(heatmaps)[:, :, 1:] > threshold, "float32")
  return 1.0 - high * ops.expand_dims(labels, 1)


def topk_mean(logits, kept, fraction):
  """Per video and class, the mean of the k = ceil(fraction * n) largest logits over the n
  segments kept for that class (W-TALC's MIL pooling): logits [B, T, C], kept [B, T, C] (1 =
  kept) -> [B, C]; 0 where nothing is kept. Vectorised: one sort along time, then a mask of the
  first k ranks (k differs per video and class)."""
  ranked = -ops.sort(-ops.transpose(ops.where(kept > 0, logits, -1e9), (0, 2, 1)), axis=-1)
  count = ops.transpose(ops.sum(kept, axis=1, keepdims=True), (0, 2, 1))  # [B, C, 1]
  k = ops.maximum(ops.ceil(fraction * count), 1.0)
  ranks = ops.cast(ops.arange(ops.shape(ranked)[-1]), ranked.dtype)
  top = ops.cast(ranks[None, None, :] < k, ranked.dtype)  # [B, C, T]
  pooled = ops.sum(ranked * top, axis=-1) / k[..., 0]
  return ops.where(count[..., 0] > 0, pooled, 0.0)


@keras.saving.register_keras_serializable(package="assg_tf")
class ErasedPooling(keras.layers.Layer):
  """Pools per-class logits over the kept segments: SAP (eq. 2-3), GAP, GMP or top-k.

  Inputs: `logits` Ĥ [B, T, C], `energy` [B, T] (the feature sum s of eq. 3 at each segment),
  `keep` [B, T, C] and `mask` [B, T] (1 = real segment). Output [B, C] video-level logits.
  `topk_fraction`: the k of "topk", as a fraction of the kept segments.
  """

  def __init__(self, method: str = "sap", topk_fraction: float = TOPK_FRACTION, **kwargs):
    super().__init__(**kwargs)
    if method not in POOLING_METHODS:
      raise ValueError(f"pooling method {method!r}: expected one of {POOLING_METHODS}")
    if not 0.0 < topk_fraction <= 1.0:
      raise ValueError(f"topk_fraction={topk_fraction!r}: expected a number in (0, 1]")
    self.method = method
    self.topk_fraction = float(topk_fraction)

  def call(self, logits, energy, keep, mask):
    kept = keep * ops.expand_dims(mask, -1)  # [B, T, C]
    any_kept = ops.max(kept, axis=1)  # [B, C]
    if self.method in ("sap", "sap_mean"):  # they differ in the energy the caller gives
      scores = ops.where(kept > 0, ops.expand_dims(energy, -1), -1e30)
      scores = scores - ops.max(scores, axis=1, keepdims=True)
      weights = ops.exp(scores) * kept
      attention = weights / ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1e-30)
      pooled = ops.sum(attention * logits, axis=1)
    elif self.method == "topk":
      pooled = topk_mean(logits, kept, self.topk_fraction)
    elif self.method == "gap":
      pooled = ops.sum(kept * logits, axis=1) / ops.maximum(ops.sum(kept, axis=1), 1.0)
    else:  # gmp
      pooled = ops.max(ops.where(kept > 0, logits, -1e30), axis=1)
    return ops.where(any_kept > 0, pooled, 0.0)

  def get_config(self):
    return {**super().get_config(), "method": self.method,
            "topk_fraction": self.topk_fraction}

"""The CAS network that provides ASSG's initial seeds: STPN-style (paper 3.2.1; SPEC 3).

The paper seeds ASSG from a CAS-based network and reports it with STPN [15] ("STPN-CAS w/
ASSG"); SPEC 3 makes an STPN-style network the default:

    h_t   = Dropout(ReLU(x_t W_e + b_e))                   embedding
    a_t   = sigmoid(w_2 ReLU(h_t W_1 + b_1) + b_2)         class-agnostic attention
    s_t   = h_t W_c + b_c                                   T-CAS logits [C]
    video = sum_t a_t s_t / sum_t a_t                       attention-weighted pooling

trained with the classification loss of eq. 5 on the video logits plus STPN's sparsity loss on
a (`losses.attention_sparsity`).

A second seed provider (`pooling="topk"`, `--cas_network=mil`) is W-TALC's multiple-instance
pooling: no attention branch; the video logit of class c is the mean of its k = ceil(T / 8)
highest T-CAS values over the real segments, trained with eq. 5 alone. Its class-agnostic
"attention" (what the background seeds and the CAS baseline's background channel need) is
a_t = sigmoid(max_c s_t[c]): a segment no class fires on is probably background.

For either network, the localisation map, the attention-weighted T-CAS
a_t * sigmoid(s_t[c]), normalised per video and class to [0, 1] over the real segments, gives
the foreground seeds (`seeds.py`) and is also the CAS baseline's heatmap for prediction.
"""
from __future__ import annotations

import keras
from keras import ops

from assg_tf import config as config_lib

POOLINGS = ("attention", "topk")
NETWORK_POOLING = {"stpn": "attention", "mil": "topk"}  # CASConfig.network -> pooling


@keras.saving.register_keras_serializable(package="assg_tf")
class CASNet(keras.Model):
  """T-CAS network for one stream: STPN-style attention pooling ("attention") or W-TALC-style
  top-k multiple-instance pooling ("topk")."""

  def __init__(self, num_classes: int, hidden_dim: int = 512, attention_dim: int = 256,
               dropout: float = 0.5, pooling: str = "attention", topk_fraction: float = 0.125,
               **kwargs):
    super().__init__(**kwargs)
    if pooling not in POOLINGS:
      raise ValueError(f"CASNet pooling={pooling!r}: expected one of {POOLINGS}")
    self.num_classes = int(num_classes)
    self.hidden_dim = int(hidden_dim)
    self.attention_dim = int(attention_dim)
    self.dropout_rate = float(dropout)
    self.pooling = pooling
    self.topk_fraction = float(topk_fraction)
    self.embed = keras.layers.Dense(self.hidden_dim, activation="relu", name="embed")
    self.dropout = keras.layers.Dropout(self.dropout_rate)
    if pooling == "attention":
      self.attention_hidden = keras.layers.Dense(
          self.attention_dim, activation="relu", name="attention_hidden")
      self.attention_out = keras.layers.Dense(1, name="attention_out")
    self.classifier = keras.layers.Dense(self.num_classes, name="tcas")

  @classmethod
  def from_config_objects(cls, num_classes: int, cfg: config_lib.CASConfig, **kwargs):
    return cls(num_classes, cfg.hidden_dim, cfg.attention_dim, cfg.dropout,
               NETWORK_POOLING[cfg.network], cfg.topk_fraction, **kwargs)

  def build(self, features_shape, mask_shape=None):
    self.embed.build(features_shape)
    hidden_shape = tuple(features_shape[:-1]) + (self.hidden_dim,)
    if self.pooling == "attention":
      self.attention_hidden.build(hidden_shape)
      self.attention_out.build(tuple(features_shape[:-1]) + (self.attention_dim,))
    self.classifier.build(hidden_shape)

  def call(self, features, mask=None, training=False):
    """features [B, T, D], mask [B, T] -> dict of attention [B, T], tcas [B, T, C] logits,
    video_logits [B, C]."""
    if mask is None:
      mask = ops.ones(ops.shape(features)[:2])
    h = self.dropout(self.embed(features), training=training)
    tcas = self.classifier(h)
    if self.pooling == "topk":
      attention = ops.sigmoid(ops.max(tcas, axis=-1))
      return {"attention": attention, "tcas": tcas,
              "video_logits": topk_mean(tcas, mask, self.topk_fraction)}
    attention = ops.sigmoid(ops.squeeze(self.attention_out(self.attention_hidden(h)), -1))
    weights = attention * mask
    video_logits = ops.sum(ops.expand_dims(weights, -1) * tcas, axis=1) / ops.maximum(
        ops.sum(weights, axis=1, keepdims=True), 1e-6)
    return {"attention": attention, "tcas": tcas, "video_logits": video_logits}

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes,
            "hidden_dim": self.hidden_dim, "attention_dim": self.attention_dim,
            "dropout": self.dropout_rate, "pooling": self.pooling,
            "topk_fraction": self.topk_fraction}


def topk_mean(tcas, mask, fraction):
  """Per video and class, the mean of the k = ceil(fraction * T) largest T-CAS values over the
  real segments (W-TALC's MIL pooling): tcas [B, T, C], mask [B, T] -> [B, C]. Vectorised:
  one sort along time, then a mask of the first k ranks (k differs per video)."""
  m = ops.expand_dims(mask, -1)
  ranked = -ops.sort(-ops.transpose(ops.where(m > 0, tcas, -1e9), (0, 2, 1)), axis=-1)
  length = ops.sum(mask, axis=1, keepdims=True)  # [B, 1]
  k = ops.maximum(ops.ceil(fraction * length), 1.0)
  ranks = ops.cast(ops.arange(ops.shape(ranked)[-1]), ranked.dtype)
  top = ops.cast(ranks[None, None, :] < k[:, :, None], ranked.dtype)  # [B, 1, T]
  return ops.sum(ranked * top, axis=-1) / k


def localization_map(outputs, mask):
  """Attention-weighted T-CAS a_t * sigmoid(s_t), min-max normalised per video and class over
  the real segments: [B, T, C] in [0, 1], 0 on padding."""
  raw = ops.expand_dims(outputs["attention"], -1) * ops.sigmoid(outputs["tcas"])
  m = ops.expand_dims(mask, -1)
  high = ops.max(ops.where(m > 0, raw, -1.0), axis=1, keepdims=True)
  low = ops.min(ops.where(m > 0, raw, 2.0), axis=1, keepdims=True)
  return (raw - low) / ops.maximum(high - low, 1e-6) * m


def heatmap(outputs, mask):
  """The CAS baseline as a heatmap [B, T, C+1] for the shared prediction path (paper 3.5):
  channel 0 (background) = 1 - attention, channel c+1 = the normalised localisation map."""
  background = (1.0 - outputs["attention"]) * mask
  return ops.concatenate(
      [ops.expand_dims(background, -1), localization_map(outputs, mask)], axis=-1)

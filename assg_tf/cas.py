"""The CAS network that provides ASSG's initial seeds: STPN-style (paper 3.2.1; docs/DESIGN.md
"Method").

The paper seeds ASSG from a CAS-based network and reports it with STPN [15] ("STPN-CAS w/
ASSG"); the paper preset (docs/DESIGN.md "Method") makes it STPN-style:

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

For either network, the localisation map gives the foreground seeds (`seeds.py`) and is also
the CAS baseline's heatmap for prediction. `maps="minmax"` (the first reading of 3.2.1) is the
attention-weighted T-CAS a_t * sigmoid(s_t[c]) min-max normalised per video and class over the
real segments: every video then has a snippet at 1 for every class, whether it contains the
class or not, and the map's scale says nothing about confidence. `maps="probability"` keeps the
probabilities as they are: sigmoid(s_t[c]) (times a_t for STPN), which a network trained with
`loss="bce"` (a sigmoid per class on the video logits, W-TALC's MIL pooling then reads the same
scale per snippet) calibrates: a seed threshold of 0.9 then means what it says.

`kernel_size` > 1 makes the embedding a temporal convolution ("same" padding, features zeroed
past each video's end): each snippet sees its neighbours, as real actions span many snippets.
"""
from __future__ import annotations

import keras
from keras import ops

from assg_tf import config as config_lib
from assg_tf import layers
from assg_tf import losses
from assg_tf import sap

POOLINGS = ("attention", "topk")
LOSSES = losses.VIDEO_LOSSES
MAPS = config_lib.CAS_MAPS
NETWORK_POOLING = {"stpn": "attention", "mil": "topk"}  # CASConfig.network -> pooling


@keras.saving.register_keras_serializable(package="assg_tf")
class CASNet(keras.Model):
  """T-CAS network for one stream: STPN-style attention pooling ("attention") or W-TALC-style
  top-k multiple-instance pooling ("topk")."""

  def __init__(self, num_classes: int, hidden_dim: int = 512, attention_dim: int = 256,
               dropout: float = 0.5, pooling: str = "attention",
               topk_fraction: float = sap.TOPK_FRACTION, kernel_size: int = 1,
               loss: str = "softmax", maps: str = "minmax", **kwargs):
    super().__init__(**kwargs)
    if pooling not in POOLINGS:
      raise ValueError(f"CASNet pooling={pooling!r}: expected one of {POOLINGS}")
    if loss not in LOSSES:
      raise ValueError(f"CASNet loss={loss!r}: expected one of {LOSSES}")
    if maps not in MAPS:
      raise ValueError(f"CASNet maps={maps!r}: expected one of {MAPS}")
    self.num_classes = int(num_classes)
    self.hidden_dim = int(hidden_dim)
    self.attention_dim = int(attention_dim)
    self.dropout_rate = float(dropout)
    self.pooling = pooling
    self.topk_fraction = float(topk_fraction)
    self.kernel_size = int(kernel_size)
    self.loss = loss
    self.maps = maps
    self.standardize = layers.FeatureStandardization(name="standardize")
    if self.kernel_size == 1:
      self.embed = keras.layers.Dense(self.hidden_dim, activation="relu", name="embed")
    else:
      self.embed = keras.layers.Conv1D(self.hidden_dim, self.kernel_size, padding="same",
                                       activation="relu", name="embed")
    self.dropout = keras.layers.Dropout(self.dropout_rate)
    if pooling == "attention":
      self.attention_hidden = keras.layers.Dense(
          self.attention_dim, activation="relu", name="attention_hidden")
      self.attention_out = keras.layers.Dense(1, name="attention_out")
    self.classifier = keras.layers.Dense(self.num_classes, name="tcas")

  @classmethod
  def from_config_objects(cls, num_classes: int, cfg: config_lib.CASConfig, **kwargs):
    return cls(num_classes, cfg.hidden_dim, cfg.attention_dim, cfg.dropout,
               NETWORK_POOLING[cfg.network], cfg.topk_fraction, cfg.kernel_size, cfg.loss,
               cfg.maps, **kwargs)

  def build(self, features_shape, mask_shape=None):
    self.standardize.build(features_shape)
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
    features = self.standardize(features)
    if self.kernel_size > 1:  # padding reads as the zeros past the video's end
      features = features * ops.expand_dims(ops.cast(mask, features.dtype), -1)
    h = self.dropout(self.embed(features), training=training)
    tcas = self.classifier(h)
    if self.pooling == "topk":
      attention = ops.sigmoid(ops.max(tcas, axis=-1))
      return {"attention": attention, "tcas": tcas,
              "video_logits": topk_mean(tcas, mask, self.topk_fraction)}
    attention_logits = ops.squeeze(self.attention_out(self.attention_hidden(h)), -1)
    attention = ops.sigmoid(attention_logits)
    weights = attention * mask
    video_logits = ops.sum(ops.expand_dims(weights, -1) * tcas, axis=1) / ops.maximum(
        ops.sum(weights, axis=1, keepdims=True), 1e-6)
    return {"attention": attention, "attention_logits": attention_logits, "tcas": tcas,
            "video_logits": video_logits}

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes,
            "hidden_dim": self.hidden_dim, "attention_dim": self.attention_dim,
            "dropout": self.dropout_rate, "pooling": self.pooling,
            "topk_fraction": self.topk_fraction, "kernel_size": self.kernel_size,
            "loss": self.loss, "maps": self.maps}

  def video_probabilities(self, video_logits):
    """Video-level class scores, as the network's loss reads its logits."""
    return losses.video_probabilities(self.loss, video_logits)


def topk_mean(tcas, mask, fraction):
  """Per video and class, the mean of the k = ceil(fraction * T) largest T-CAS values over the
  real segments (W-TALC's MIL pooling): tcas [B, T, C], mask [B, T] -> [B, C]
  (`sap.topk_mean` with every real segment kept for every class)."""
  return sap.topk_mean(tcas, ops.expand_dims(mask, -1) * ops.ones_like(tcas), fraction)


def localization_map(outputs, mask, maps="minmax"):
  """[B, T, C] in [0, 1], 0 on padding. "minmax": the attention-weighted T-CAS
  a_t * sigmoid(s_t) min-max normalised per video and class over the real segments;
  "probability": sigmoid(s_t), times a_t when the network has an attention branch (STPN)."""
  m = ops.expand_dims(mask, -1)
  if maps == "probability":
    prob = ops.sigmoid(outputs["tcas"])
    if "attention_logits" in outputs:
      prob = prob * ops.expand_dims(outputs["attention"], -1)
    return prob * m
  raw = ops.expand_dims(outputs["attention"], -1) * ops.sigmoid(outputs["tcas"])
  high = ops.max(ops.where(m > 0, raw, -1.0), axis=1, keepdims=True)
  low = ops.min(ops.where(m > 0, raw, 2.0), axis=1, keepdims=True)
  return (raw - low) / ops.maximum(high - low, 1e-6) * m


def heatmap(outputs, mask, maps="minmax"):
  """The CAS baseline as a heatmap [B, T, C+1] for the shared prediction path (paper 3.5):
  channel 0 (background) = 1 - attention, channel c+1 = the localisation map."""
  background = (1.0 - outputs["attention"]) * mask
  return ops.concatenate(
      [ops.expand_dims(background, -1), localization_map(outputs, mask, maps)], axis=-1)

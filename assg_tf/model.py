"""The ASSG network of one stream (paper 3.2-3.3) and the two-stream forward pass (3.5).

`ASSGNet` composes the layers of `layers.py` and `sap.py`:

    F = SSGBackbone(x)                       shared feature map           (3.2.2)
    P = [ReLU(F), ReLU(-F)]                  the pair of opposite ReLUs   (3.3)
    H = softmax(HeatmapHead(P))              class heatmaps, ch. 0 = bg   (3.2.2)
    SAP (or top-k) over the erased ReLU(F)   video logits                 (3.3, eq. 2-3)

RGB and flow are trained as two separate networks (paper 3.5). `stream_maps` gives the
per-stream heatmap and video scores for any trained network (ASSG, SSG or the CAS baseline), and
`fuse_streams` fuses them with lambda (eq. 6; `two_stream_maps` does both): the single forward
path shared by evaluation, `assg_tf.predict` and the exported SavedModel.
"""
from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf
from keras import ops

from assg_tf import cas as cas_lib
from assg_tf import config as config_lib
from assg_tf import growing
from assg_tf import layers
from assg_tf import losses
from assg_tf import sap


@keras.saving.register_keras_serializable(package="assg_tf")
class ASSGNet(keras.Model):
  """SSG backbone + heatmap head + self-adaptive classifier of one stream."""

  def __init__(self, num_classes: int, hidden_dim: int = 512, pooling: str = "sap",
               erasing_threshold: float = 0.4, kernel_size: int = 1, head: str = "full",
               label_softmax: bool = False, class_loss: str = "softmax", **kwargs):
    super().__init__(**kwargs)
    if head not in ("full", "split"):
      raise ValueError(f"ASSGNet head={head!r}: expected full or split")
    if class_loss not in losses.VIDEO_LOSSES:
      raise ValueError(f"ASSGNet class_loss={class_loss!r}: expected one of "
                       f"{losses.VIDEO_LOSSES}")
    self.num_classes = int(num_classes)
    self.hidden_dim = int(hidden_dim)
    self.pooling = pooling
    self.erasing_threshold = float(erasing_threshold)
    self.kernel_size = int(kernel_size)
    self.head_kind = head
    self.label_softmax = bool(label_softmax)
    self.class_loss = class_loss
    self.standardize = layers.FeatureStandardization(name="standardize")
    self.backbone = layers.SSGBackbone(self.hidden_dim, self.kernel_size, name="backbone")
    self.opposite_relu = layers.OppositeReLU(name="opposite_relu")
    self.head = layers.HeatmapHead(self.num_classes, split=(head == "split"),
                                   name="heatmap_head")
    self.pool = sap.ErasedPooling(pooling, name="pool")

  @classmethod
  def from_config_objects(cls, num_classes: int, cfg: config_lib.ModelConfig, **kwargs):
    return cls(num_classes, cfg.hidden_dim, cfg.pooling, cfg.erasing_threshold,
               cfg.kernel_size, cfg.head, cfg.label_softmax, cfg.class_loss, **kwargs)

  def build(self, input_shape):
    self.standardize.build(input_shape)
    self.backbone.build(input_shape)
    hidden_shape = tuple(input_shape[:-1]) + (self.hidden_dim,)
    self.head.build(tuple(input_shape[:-1]) + (2 * self.hidden_dim,))
    self.pool.build(hidden_shape)

  def call(self, features, segment_mask=None, training=False):
    """features [B, T, D], segment_mask [B, T] (1 = real segment) -> dict of heatmap_logits
    and heatmaps [B, T, C+1], foreground ReLU(F) [B, T, hidden]. (Not named `mask`: Keras
    would treat it as a Keras mask and propagate it.)"""
    f = self.backbone(self.standardize(features), segment_mask=segment_mask)
    logits = self.head(self.opposite_relu(f))
    return {"heatmap_logits": logits, "heatmaps": ops.softmax(logits, axis=-1),
            "foreground": ops.relu(f)}

  def classify(self, outputs, mask, labels=None):
    """Video logits [B, C] of the classifier (eq. 2-3). With `labels`, the segments SSG is
    sure of (H > theta_a) are erased for the labelled classes first (Alg. 1 lines 14-16);
    without, nothing is erased (inference)."""
    foreground = outputs["foreground"]
    class_logits = self.head.foreground_logits(foreground)
    energy = self.energy(foreground)
    if labels is None:
      keep = ops.ones_like(class_logits)
    else:
      keep = sap.erasing_keep_mask(self.training_heatmaps(outputs, labels), labels,
                                   self.erasing_threshold)
    return self.pool(class_logits, energy, keep, mask)

  def energy(self, foreground):
    """Eq. 3's energy s [B, T] of a foreground map ReLU(F) [B, T, hidden]: the sum over its
    channels (paper), or their mean with pooling="sap_mean" (docs/DESIGN.md)."""
    if self.pooling == "sap_mean":
      return ops.mean(foreground, axis=-1)
    return ops.sum(foreground, axis=-1)

  def training_heatmaps(self, outputs, labels):
    """The H that growing (eq. 1) and erasing threshold: the softmax over all C+1 channels,
    or, with label_softmax, over the background and the video's labels only
    (`growing.label_softmax`)."""
    if self.label_softmax:
      return growing.label_softmax(outputs["heatmap_logits"], labels)
    return outputs["heatmaps"]

  def video_probabilities(self, video_logits):
    """Video-level class scores from the classifier's logits, as its loss reads them."""
    return losses.video_probabilities(self.class_loss, video_logits)

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes,
            "hidden_dim": self.hidden_dim, "pooling": self.pooling,
            "erasing_threshold": self.erasing_threshold, "kernel_size": self.kernel_size,
            "head": self.head_kind, "label_softmax": self.label_softmax,
            "class_loss": self.class_loss}


def stream_maps(net, features, mask):
  """One stream's heatmap [B, T, C+1] (probabilities, ch. 0 = bg) and video scores [B, C]
  (class probabilities) for an ASSGNet or a CASNet; padding rows of the heatmap are 0. An
  ASSGNet trained with label_softmax gives each class against the background
  (`growing.class_vs_background`), the paper's the softmax over all C+1 channels."""
  if isinstance(net, cas_lib.CASNet):
    outputs = net(features, mask, training=False)
    return cas_lib.heatmap(outputs, mask, net.maps), net.video_probabilities(
        outputs["video_logits"])
  outputs = net(features, mask, training=False)
  heatmaps = (growing.class_vs_background(outputs["heatmap_logits"]) if net.label_softmax
              else outputs["heatmaps"])  # as training's growing reads it (docs/DESIGN.md)
  heatmaps = heatmaps * ops.expand_dims(mask, -1)
  return heatmaps, net.video_probabilities(net.classify(outputs, mask))


def fuse_streams(per_stream: dict, rgb_weight: float):
  """Eq. 6's fusion of per-stream values ({"rgb": x, "flow": x}: heatmaps or video scores):
  lambda * rgb + (1 - lambda) * flow; with one stream only, that stream alone. The package's
  one stream fusion: evaluation, predict and the SavedModel run it."""
  weights = {"rgb": rgb_weight, "flow": 1.0 - rgb_weight}
  if len(per_stream) == 1:
    weights = {k: 1.0 for k in per_stream}
  fused = 0.0
  for stream, value in sorted(per_stream.items()):  # at most two streams: not a hot loop
    fused = fused + weights[stream] * value
  return fused


def per_stream_maps(nets: dict, features, mask, rgb_dim: int):
  """`stream_maps` of every stream network in `nets` ({"rgb": net, "flow": net}), each on its
  stream of the joint features: ({stream: heatmaps}, {stream: video_scores})."""
  heatmaps, scores = {}, {}
  for stream, net in nets.items():
    heatmaps[stream], scores[stream] = stream_maps(
        net, features[..., config_lib.stream_slice(stream, rgb_dim)], mask)
  return heatmaps, scores


def two_stream_maps(nets: dict, features, mask, rgb_dim: int, rgb_weight: float):
  """The streams of `nets` ({"rgb": net, "flow": net}) fused with lambda (eq. 6,
  `fuse_streams`): (heatmaps [B, T, C+1], video_scores [B, C])."""
  heatmaps, scores = per_stream_maps(nets, features, mask, rgb_dim)
  return fuse_streams(heatmaps, rgb_weight), fuse_streams(scores, rgb_weight)


def build_net(kind: str, num_classes: int, feature_dim: int,
              cfg: config_lib.Config, name: Optional[str] = None):
  """Creates and builds the network of a variant: "cas" -> CASNet, "ssg"/"assg" -> ASSGNet."""
  if kind == "cas":
    net = cas_lib.CASNet.from_config_objects(num_classes, cfg.cas, name=name)
    net(tf.zeros([1, 2, feature_dim]), tf.ones([1, 2]))
  else:
    net = ASSGNet.from_config_objects(num_classes, cfg.model, name=name)
    net(tf.zeros([1, 2, feature_dim]), tf.ones([1, 2]))
  return net


def variants_to_train(variants: Sequence[str]):
  """The ASSG-family variants among `variants` (the CAS network is always trained: it seeds)."""
  return [v for v in ("ssg", "assg") if v in variants]

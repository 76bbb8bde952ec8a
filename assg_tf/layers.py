"""Keras layers of the SSG network (paper section 3.2.2) and the classifier's erasing (3.3).

The SSG backbone stacks two temporal convolutions {filters=512, kernel size=1, stride=1}. A
kernel-size-1 temporal convolution is the same linear map applied at every time step, a plain
matmul on a [batch, T, D] tensor, which is how it is computed. `kernel_size` > 1 (our departure,
docs/DESIGN.md "Temporal context") gives each snippet its neighbours' context: a "same"-padded
convolution on features zeroed past each video's end, so a video's output does not depend on
how much padding its batch has.

docs/DESIGN.md "Method" fixes what the paper leaves open: the first convolution is followed by a
ReLU, the
second gives the shared map F without one; the "pair of opposite ReLUs" is [ReLU(F), ReLU(-F)]
(foreground part, background part); a kernel-size-1 convolution with C+1 filters on that pair
gives the heatmap logits, and H = softmax over the C+1 channels, channel 0 = background.

Every layer creates its weights in `build()`, returns all constructor arguments from
`get_config()` and is registered as `assg_tf>NAME`, so models that contain them survive a
`.keras` save and load after `import assg_tf`.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

_PACKAGE = "assg_tf"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class FeatureStandardization(keras.layers.Layer):
  """(x - mean) / std per channel, with the training videos' statistics (our departure,
  docs/DESIGN.md "Feature scale"): non-trainable weights, the identity until
  `set_statistics` fills them, saved with the model (checkpoints, .keras, SavedModel).

  I3D features are small and positive (channel means near 0.1-0.2 for Kinetics I3D, and other
  extractors differ), so without it the first layer's pre-activations start tiny and the
  networks need many more steps at a given learning rate to learn anything; with it, every
  dataset reaches the networks at unit scale.
  """

  def build(self, input_shape):
    dim = input_shape[-1]
    self.mean = self.add_weight(name="mean", shape=(dim,), initializer="zeros",
                                trainable=False)
    self.inverse_std = self.add_weight(name="inverse_std", shape=(dim,), initializer="ones",
                                       trainable=False)

  def set_statistics(self, mean, std):
    """Sets the per-channel mean and standard deviation (std floored at 1e-6)."""
    self.mean.assign(np.asarray(mean, np.float32))
    self.inverse_std.assign(1.0 / np.maximum(np.asarray(std, np.float32), 1e-6))

  def call(self, x):
    return (x - self.mean) * self.inverse_std


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SSGBackbone(keras.layers.Layer):
  """Two kernel-size-1 temporal convolutions: x -> ReLU(x W1 + b1) W2 + b2 = F (paper 3.2.2).

  Input [batch, T, D]; output the shared feature map F [batch, T, hidden_dim], which may be
  negative: its sign separates the foreground and background parts (see OppositeReLU).
  """

  def __init__(self, hidden_dim: int = 512, kernel_size: int = 1, **kwargs):
    super().__init__(**kwargs)
    self.hidden_dim = int(hidden_dim)
    self.kernel_size = int(kernel_size)
    if self.kernel_size < 1:
      raise ValueError(f"SSGBackbone kernel_size={kernel_size}: expected a positive int")

  def build(self, input_shape):
    dim = input_shape[-1]
    if dim is None:
      raise ValueError("SSGBackbone needs a known feature width (last axis), got None")
    k = self.kernel_size
    shape1 = (dim, self.hidden_dim) if k == 1 else (k, dim, self.hidden_dim)
    shape2 = (self.hidden_dim,) * 2 if k == 1 else (k, self.hidden_dim, self.hidden_dim)
    self.kernel1 = self.add_weight(name="kernel1", shape=shape1, initializer="glorot_uniform")
    self.bias1 = self.add_weight(name="bias1", shape=(self.hidden_dim,), initializer="zeros")
    self.kernel2 = self.add_weight(name="kernel2", shape=shape2, initializer="glorot_uniform")
    self.bias2 = self.add_weight(name="bias2", shape=(self.hidden_dim,), initializer="zeros")

  def call(self, x, segment_mask=None):
    """x [batch, T, D], segment_mask [batch, T] (1 = real segment; needed only when
    kernel_size > 1 and the batch is padded) -> F [batch, T, hidden_dim]."""
    h = ops.relu(temporal_conv(x, self.kernel1, segment_mask) + self.bias1)
    return temporal_conv(h, self.kernel2, segment_mask) + self.bias2

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.hidden_dim,)

  def get_config(self):
    return {**super().get_config(), "hidden_dim": self.hidden_dim,
            "kernel_size": self.kernel_size}


def temporal_conv(x, kernel, mask=None):
  """A stride-1 temporal convolution without bias: kernel [D, H] (kernel size 1, a matmul) or
  [k, D, H] ("same" padding). Rows where mask is 0 are zeroed first, so padding reads as the
  zeros past a video's end."""
  if len(kernel.shape) == 2:
    return ops.matmul(x, kernel)
  if mask is not None:
    x = x * ops.expand_dims(ops.cast(mask, x.dtype), -1)
  return ops.conv(x, kernel, strides=1, padding="same")


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OppositeReLU(keras.layers.Layer):
  """The pair of opposite ReLUs [ReLU(F), ReLU(-F)] (paper 3.3; docs/DESIGN.md "Method").

  The first half is the foreground part that the classifier reads; the second half the
  background part. Output [batch, T, 2 * hidden_dim].
  """

  def call(self, f):
    return ops.concatenate([ops.relu(f), ops.relu(-f)], axis=-1)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (2 * input_shape[-1],)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HeatmapHead(keras.layers.Layer):
  """Kernel-size-1 convolution with C+1 filters on the opposite-ReLU pair (paper 3.2.2).

  `call` gives the heatmap logits [batch, T, C+1] (channel 0 = background); the heatmap H is
  their softmax over channels. With `split=True` the action channels read only the foreground
  half ReLU(F) and the background channel only the background half ReLU(-F) (paper 3.3: "forces
  the foreground or background seeds to grow in the positive or negative activation parts"):
  the other weights are held at zero, so a snippet is action exactly where F points along an
  action's weights, and the classifier's SAP energy (the sum of ReLU(F)) is actionness. `foreground_logits` applies the same layer's foreground weights
  (the rows that read ReLU(F), the columns of the C action classes) to a foreground map: the
  classifier's Ĥ of eq. 2 uses it on the erased map, so the classifier adds no parameters
  (paper 3.3: "without any additional learning parameters").
  """

  def __init__(self, num_classes: int, split: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = int(num_classes)
    self.split = bool(split)

  def build(self, input_shape):
    dim = input_shape[-1]
    if dim is None or dim % 2:
      raise ValueError(
          f"HeatmapHead expects the opposite-ReLU pair (an even width), got width {dim}")
    self.kernel = self.add_weight(
        name="kernel", shape=(dim, self.num_classes + 1), initializer="glorot_uniform")
    self.bias = self.add_weight(name="bias", shape=(self.num_classes + 1,), initializer="zeros")

  def _kernel(self):
    if not self.split:
      return self.kernel
    # 1 where a weight is used: the foreground half feeds the actions, the other the background.
    dim = ops.shape(self.kernel)[0]
    rows = ops.arange(dim)[:, None] < dim // 2
    cols = ops.arange(self.num_classes + 1)[None, :] > 0
    return self.kernel * ops.cast(ops.equal(rows, cols), self.kernel.dtype)

  def call(self, pair):
    return ops.matmul(pair, self._kernel()) + self.bias

  def foreground_logits(self, foreground):
    """[batch, T, hidden] foreground map -> [batch, T, C] class logits (no background)."""
    hidden = ops.shape(self.kernel)[0] // 2
    return ops.matmul(foreground, self._kernel()[:hidden, 1:]) + self.bias[1:]

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.num_classes + 1,)

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes, "split": self.split}

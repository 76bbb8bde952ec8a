"""Keras layers of the SSG network (paper section 3.2.2) and the classifier's erasing (3.3).

The SSG backbone stacks two temporal convolutions {filters=512, kernel size=1, stride=1}. A
kernel-size-1 temporal convolution is the same linear map applied at every time step, which is
what `keras.layers.Dense` computes on a [batch, T, D] tensor; we use Dense for that reason (same
parameters, same function, a plain matmul on the CPU).

SPEC section 3 fixes what the paper leaves open: the first convolution is followed by a ReLU, the
second gives the shared map F without one; the "pair of opposite ReLUs" is [ReLU(F), ReLU(-F)]
(foreground part, background part); a kernel-size-1 convolution with C+1 filters on that pair
gives the heatmap logits, and H = softmax over the C+1 channels, channel 0 = background.

Every layer creates its weights in `build()`, returns all constructor arguments from
`get_config()` and is registered as `assg_tf>NAME`, so models that contain them survive a
`.keras` save and load after `import assg_tf`.
"""
from __future__ import annotations

import keras
from keras import ops

_PACKAGE = "assg_tf"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SSGBackbone(keras.layers.Layer):
  """Two kernel-size-1 temporal convolutions: x -> ReLU(x W1 + b1) W2 + b2 = F (paper 3.2.2).

  Input [batch, T, D]; output the shared feature map F [batch, T, hidden_dim], which may be
  negative: its sign separates the foreground and background parts (see OppositeReLU).
  """

  def __init__(self, hidden_dim: int = 512, **kwargs):
    super().__init__(**kwargs)
    self.hidden_dim = int(hidden_dim)

  def build(self, input_shape):
    dim = input_shape[-1]
    if dim is None:
      raise ValueError("SSGBackbone needs a known feature width (last axis), got None")
    self.kernel1 = self.add_weight(
        name="kernel1", shape=(dim, self.hidden_dim), initializer="glorot_uniform")
    self.bias1 = self.add_weight(name="bias1", shape=(self.hidden_dim,), initializer="zeros")
    self.kernel2 = self.add_weight(
        name="kernel2", shape=(self.hidden_dim, self.hidden_dim), initializer="glorot_uniform")
    self.bias2 = self.add_weight(name="bias2", shape=(self.hidden_dim,), initializer="zeros")

  def call(self, x):
    h = ops.relu(ops.matmul(x, self.kernel1) + self.bias1)
    return ops.matmul(h, self.kernel2) + self.bias2

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.hidden_dim,)

  def get_config(self):
    return {**super().get_config(), "hidden_dim": self.hidden_dim}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class OppositeReLU(keras.layers.Layer):
  """The pair of opposite ReLUs [ReLU(F), ReLU(-F)] (paper 3.3; SPEC 3).

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
  their softmax over channels. `foreground_logits` applies the same layer's foreground weights
  (the rows that read ReLU(F), the columns of the C action classes) to a foreground map: the
  classifier's Ĥ of eq. 2 uses it on the erased map, so the classifier adds no parameters
  (paper 3.3: "without any additional learning parameters").
  """

  def __init__(self, num_classes: int, **kwargs):
    super().__init__(**kwargs)
    self.num_classes = int(num_classes)

  def build(self, input_shape):
    dim = input_shape[-1]
    if dim is None or dim % 2:
      raise ValueError(
          f"HeatmapHead expects the opposite-ReLU pair (an even width), got width {dim}")
    self.kernel = self.add_weight(
        name="kernel", shape=(dim, self.num_classes + 1), initializer="glorot_uniform")
    self.bias = self.add_weight(name="bias", shape=(self.num_classes + 1,), initializer="zeros")

  def call(self, pair):
    return ops.matmul(pair, self.kernel) + self.bias

  def foreground_logits(self, foreground):
    """[batch, T, hidden] foreground map -> [batch, T, C] class logits (no background)."""
    hidden = ops.shape(self.kernel)[0] // 2
    return ops.matmul(foreground, self.kernel[:hidden, 1:]) + self.bias[1:]

  def compute_output_shape(self, input_shape):
    return tuple(input_shape[:-1]) + (self.num_classes + 1,)

  def get_config(self):
    return {**super().get_config(), "num_classes": self.num_classes}

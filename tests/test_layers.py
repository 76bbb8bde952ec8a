"""Keras layers (paper 3.2.2, 3.3): shapes, known values, config round trips, .keras files,
and use inside a user's own functional model."""
import numpy as np
import pytest
import keras
import tensorflow as tf

import assg_tf  # noqa: F401  registers the layers
from assg_tf import layers, sap

LAYERS = [
    (layers.SSGBackbone, {"hidden_dim": 8}),
    (layers.OppositeReLU, {}),
    (layers.HeatmapHead, {"num_classes": 3}),
    (sap.ErasedPooling, {"method": "gmp"}),
]


def test_opposite_relu_splits_signs():
  out = layers.OppositeReLU()(np.array([[[1.0, -2.0]]], np.float32)).numpy()
  np.testing.assert_array_equal(out, [[[1.0, 0.0, 0.0, 2.0]]])


def test_backbone_is_two_kernel_size_one_convolutions():
  x = np.random.default_rng(0).normal(size=[2, 5, 4]).astype(np.float32)
  layer = layers.SSGBackbone(6)
  out = layer(x).numpy()
  h = np.maximum(x @ layer.kernel1.numpy() + layer.bias1.numpy(), 0)
  np.testing.assert_allclose(out, h @ layer.kernel2.numpy() + layer.bias2.numpy(), rtol=1e-5,
                             atol=1e-6)
  # Each time step is transformed alone (kernel size 1): permuting time permutes the output.
  np.testing.assert_allclose(layer(x[:, ::-1]).numpy(), out[:, ::-1], rtol=1e-5, atol=1e-6)


def test_heatmap_head_foreground_logits_reuse_its_weights():
  head = layers.HeatmapHead(3)
  pair = np.random.default_rng(1).random([1, 4, 8]).astype(np.float32)
  logits = head(pair).numpy()
  assert logits.shape == (1, 4, 4)
  fg = pair[..., :4]
  expected = fg @ head.kernel.numpy()[:4, 1:] + head.bias.numpy()[1:]
  np.testing.assert_allclose(head.foreground_logits(fg).numpy(), expected, rtol=1e-5, atol=1e-6)
  # With a zero background part, the head's class logits equal the foreground logits.
  zero_bg = np.concatenate([fg, np.zeros_like(fg)], -1)
  np.testing.assert_allclose(head(zero_bg).numpy()[..., 1:], expected, rtol=1e-5, atol=1e-6)


def test_heatmap_head_refuses_odd_width():
  with pytest.raises(ValueError, match="even width"):
    layers.HeatmapHead(2)(np.zeros([1, 2, 3], np.float32))


@pytest.mark.parametrize("cls,kwargs", LAYERS)
def test_get_config_round_trip(cls, kwargs):
  layer = cls(**kwargs, name="x")
  config = layer.get_config()
  for key, value in kwargs.items():
    assert config[key] == value
  clone = cls.from_config(config)
  assert clone.get_config() == config
  assert keras.saving.get_registered_name(cls) == f"assg_tf>{cls.__name__}"


def _functional_model(num_classes=3, dim=6):
  features = keras.Input([None, dim])
  f = layers.SSGBackbone(8)(features)
  logits = layers.HeatmapHead(num_classes)(layers.OppositeReLU()(f))
  video = keras.layers.GlobalAveragePooling1D()(logits[..., 1:])
  return keras.Model(features, video)


def test_layers_train_inside_a_functional_model_and_survive_a_keras_file(tmp_path):
  keras.utils.set_random_seed(0)
  model = _functional_model()
  model.compile(optimizer=keras.optimizers.Adam(1e-2),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True))
  rng = np.random.default_rng(0)
  x = rng.normal(size=[32, 10, 6]).astype(np.float32)
  y = keras.utils.to_categorical(rng.integers(0, 3, 32), 3)
  x += 2 * y[:, None, :].repeat(2, -1)  # learnable: class signal in the features
  history = model.fit(x, y, epochs=15, batch_size=8, verbose=0)
  assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
  path = str(tmp_path / "model.keras")
  model.save(path)
  loaded = keras.saving.load_model(path)
  np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                             rtol=1e-5, atol=1e-5)
  # Any length: the layers are per time step.
  assert loaded(np.zeros([2, 37, 6], np.float32)).shape == (2, 3)

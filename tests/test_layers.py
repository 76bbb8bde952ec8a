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
    (layers.SSGBackbone, {"hidden_dim": 8, "kernel_size": 3}),
    (layers.OppositeReLU, {}),
    (layers.HeatmapHead, {"num_classes": 3}),
    (layers.HeatmapHead, {"num_classes": 3, "split": True}),
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


def test_temporal_kernel_known_values_and_padding_reads_as_the_video_end():
  """kernel_size 3: out[t] = x[t-1] K[0] + x[t] K[1] + x[t+1] K[2], zeros outside the video."""
  x = np.array([[[1.0], [2.0], [3.0], [4.0]]], np.float32)  # [1, T=4, D=1]
  kernel = np.array([[[1.0]], [[10.0]], [[100.0]]], np.float32)  # [k=3, D=1, H=1]
  out = layers.temporal_conv(x, kernel).numpy()[0, :, 0]
  np.testing.assert_allclose(out, [210.0, 321.0, 432.0, 43.0])
  # Rows past num_segments are zeroed first: the last real row does not see the padding.
  mask = np.array([[1.0, 1.0, 1.0, 0.0]], np.float32)
  out = layers.temporal_conv(x, kernel, mask).numpy()[0, :, 0]
  np.testing.assert_allclose(out[:3], [210.0, 321.0, 32.0])


def test_backbone_with_temporal_kernel_ignores_how_much_padding_follows():
  rng = np.random.default_rng(2)
  layer = layers.SSGBackbone(6, kernel_size=3)
  x = rng.normal(size=[1, 5, 4]).astype(np.float32)
  alone = layer(x, segment_mask=np.ones([1, 5], np.float32)).numpy()
  padded = np.concatenate([x, rng.normal(size=[1, 3, 4]).astype(np.float32)], axis=1)
  mask = np.array([[1.0] * 5 + [0.0] * 3], np.float32)
  np.testing.assert_allclose(layer(padded, segment_mask=mask).numpy()[:, :5], alone, rtol=1e-5,
                             atol=1e-5)
  assert layer.kernel1.shape == (3, 4, 6) and layer.kernel2.shape == (3, 6, 6)
  with pytest.raises(ValueError, match="kernel_size=0"):
    layers.SSGBackbone(6, kernel_size=0)


def test_split_head_reads_the_foreground_half_for_actions_and_the_background_half_for_bg():
  head = layers.HeatmapHead(2, split=True)
  fg = np.array([[[1.0, 2.0]]], np.float32)
  bg = np.array([[[3.0, 5.0]]], np.float32)
  head(np.concatenate([fg, bg], -1))  # builds
  kernel, bias = head.kernel.numpy(), head.bias.numpy()
  logits = head(np.concatenate([fg, bg], -1)).numpy()[0, 0]
  assert logits[0] == pytest.approx(bg[0, 0] @ kernel[2:, 0] + bias[0], rel=1e-5)
  np.testing.assert_allclose(logits[1:], fg[0, 0] @ kernel[:2, 1:] + bias[1:], rtol=1e-5)
  # The weights a split head does not use receive no gradient.
  with tf.GradientTape() as tape:
    total = tf.reduce_sum(head(np.concatenate([fg, bg], -1)))
  grad = tape.gradient(total, head.trainable_variables)[0].numpy()
  np.testing.assert_array_equal(grad[2:, 1:], 0.0)
  np.testing.assert_array_equal(grad[:2, 0], 0.0)
  assert np.all(grad[:2, 1:] != 0) and np.all(grad[2:, 0] != 0)


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


def test_feature_standardization_is_the_identity_until_set_then_standardises():
  layer = layers.FeatureStandardization()
  x = np.array([[[1.0, 10.0], [3.0, 30.0]]], np.float32)
  np.testing.assert_array_equal(layer(x).numpy(), x)
  layer.set_statistics([2.0, 20.0], [1.0, 10.0])
  np.testing.assert_allclose(layer(x).numpy(), [[[-1.0, -1.0], [1.0, 1.0]]])
  assert not layer.trainable_weights and len(layer.non_trainable_weights) == 2

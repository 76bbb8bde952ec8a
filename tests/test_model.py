"""The ASSG and CAS networks of one stream, their .keras files, and the two-stream fusion."""
import numpy as np
import keras
import tensorflow as tf

import assg_tf  # noqa: F401
from assg_tf import cas, config as config_lib, growing, model as model_lib


def test_assg_net_outputs_and_classifier_shapes():
  net = model_lib.ASSGNet(4, hidden_dim=8)
  x = np.random.default_rng(0).normal(size=[2, 7, 5]).astype(np.float32)
  out = net(x)
  assert out["heatmaps"].shape == (2, 7, 5)
  np.testing.assert_allclose(out["heatmaps"].numpy().sum(-1), 1.0, rtol=1e-5)
  mask = np.ones([2, 7], np.float32)
  assert net.classify(out, mask).shape == (2, 4)
  assert net.classify(out, mask, np.eye(4, dtype=np.float32)[:2]).shape == (2, 4)


def test_erasing_everything_gives_zero_logits_for_labelled_classes():
  net = model_lib.ASSGNet(2, hidden_dim=16, erasing_threshold=1e-9)
  out = net(np.random.default_rng(0).normal(size=[1, 3, 2]).astype(np.float32))
  assert np.any(out["foreground"].numpy() > 0)  # something for the unerased class to pool
  logits = net.classify(out, np.ones([1, 3], np.float32), np.array([[1.0, 0.0]], np.float32))
  assert logits.numpy()[0, 0] == 0.0 and logits.numpy()[0, 1] != 0.0


def test_sap_energy_is_the_sum_of_the_foreground_or_its_mean():
  # Eq. 3's energy of two segments with foreground [2, 2] and [0, 0]: 4 and 0 as the paper's
  # sum, 2 and 0 as sap_mean's mean; the pooled logit weighs the segments' logits by them.
  foreground = tf.constant([[[2.0, 2.0], [0.0, 0.0]]])
  mask = np.ones([1, 2], np.float32)
  for pooling, energy in (("sap", 4.0), ("sap_mean", 2.0)):
    net = model_lib.ASSGNet(1, hidden_dim=2, pooling=pooling)
    net(np.zeros([1, 2, 3], np.float32))
    logits = net.head.foreground_logits(foreground).numpy()[0, :, 0]
    weight = np.exp(energy) / (np.exp(energy) + 1.0)
    expected = weight * logits[0] + (1.0 - weight) * logits[1]
    got = net.classify({"foreground": foreground}, mask).numpy()[0, 0]
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_detection_heatmap_of_a_label_softmax_net_is_class_against_background():
  x = np.random.default_rng(0).normal(size=[1, 4, 3]).astype(np.float32)
  mask = np.array([[1.0, 1.0, 1.0, 0.0]], np.float32)
  for label_softmax in (True, False):
    net = model_lib.ASSGNet(3, hidden_dim=8, label_softmax=label_softmax)
    logits = net(x, mask)["heatmap_logits"]
    expected = (growing.class_vs_background(logits) if label_softmax
                else tf.nn.softmax(logits, axis=-1)).numpy() * mask[..., None]
    heatmaps, _ = model_lib.stream_maps(net, x, mask)
    np.testing.assert_allclose(heatmaps.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_nets_survive_a_keras_file(tmp_path):
  x = np.random.default_rng(0).normal(size=[1, 9, 5]).astype(np.float32)
  mask = np.ones([1, 9], np.float32)
  for net in [model_lib.ASSGNet(3, hidden_dim=8, pooling="gap"),
              cas.CASNet(3, hidden_dim=8, attention_dim=4),
              cas.CASNet(3, hidden_dim=8, pooling="topk", topk_fraction=0.25)]:
    before = model_lib.stream_maps(net, x, mask)
    path = str(tmp_path / f"{net.name}.keras")
    net.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded) is type(net)
    after = model_lib.stream_maps(loaded, x, mask)
    for a, b in zip(before, after):
      np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_cas_heatmap_is_normalised_and_zero_on_padding():
  net = cas.CASNet(2, hidden_dim=8, attention_dim=4)
  x = np.random.default_rng(2).normal(size=[1, 6, 3]).astype(np.float32)
  mask = np.array([[1, 1, 1, 1, 0, 0]], np.float32)
  heat, scores = model_lib.stream_maps(net, x, mask)
  heat = heat.numpy()
  np.testing.assert_allclose(heat[0, :4, 1:].max(0), 1.0, rtol=1e-5)
  np.testing.assert_allclose(heat[0, :4, 1:].min(0), 0.0, atol=1e-6)
  np.testing.assert_array_equal(heat[0, 4:], 0.0)
  np.testing.assert_allclose(scores.numpy().sum(-1), 1.0, rtol=1e-5)


def test_two_stream_fusion_uses_lambda_on_rgb():
  cfg = config_lib.Config(model=config_lib.ModelConfig(hidden_dim=4))
  rgb = model_lib.build_net("assg", 2, 3, cfg)
  flow = model_lib.build_net("assg", 2, 4, cfg)
  x = np.random.default_rng(3).normal(size=[1, 5, 7]).astype(np.float32)
  mask = np.ones([1, 5], np.float32)
  fused, _ = model_lib.two_stream_maps({"rgb": rgb, "flow": flow}, x, mask, 3, 0.3)
  h_rgb, _ = model_lib.stream_maps(rgb, x[..., :3], mask)
  h_flow, _ = model_lib.stream_maps(flow, x[..., 3:], mask)
  np.testing.assert_allclose(fused.numpy(), 0.3 * h_rgb.numpy() + 0.7 * h_flow.numpy(),
                             rtol=1e-5, atol=1e-6)
  alone, _ = model_lib.two_stream_maps({"flow": flow}, x, mask, 3, 0.3)
  np.testing.assert_allclose(alone.numpy(), h_flow.numpy(), rtol=1e-5, atol=1e-6)


def test_fuse_streams_weighs_rgb_by_lambda_and_keeps_a_lone_stream():
  assert model_lib.fuse_streams({"rgb": 1.0, "flow": 3.0}, 0.25) == 0.25 * 1.0 + 0.75 * 3.0
  assert model_lib.fuse_streams({"rgb": 2.0}, 0.25) == 2.0

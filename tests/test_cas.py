"""The two seed providers of assg_tf/cas.py: STPN-style attention and W-TALC-style top-k MIL."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from assg_tf import cas, config as config_lib, model as model_lib, training


def test_topk_mean_known_values_with_padding():
  # Video 0: T = 4 real segments, k = ceil(0.5 * 4) = 2; video 1: T = 3 real, k = 2; the padded
  # segment (value 100) must never count.
  tcas = np.array([[[1.0, -1.0], [4.0, 0.0], [2.0, 3.0], [3.0, 5.0]],
                   [[7.0, 1.0], [5.0, 2.0], [0.0, 3.0], [100.0, 100.0]]], np.float32)
  mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], np.float32)
  got = cas.topk_mean(tcas, mask, 0.5).numpy()
  np.testing.assert_allclose(got, [[3.5, 4.0], [6.0, 2.5]])


def test_topk_mean_keeps_at_least_one_segment():
  tcas = np.array([[[1.0], [9.0], [2.0]]], np.float32)
  got = cas.topk_mean(tcas, np.ones([1, 3], np.float32), 0.01).numpy()
  np.testing.assert_allclose(got, [[9.0]])


def test_mil_network_outputs_and_has_no_attention_branch():
  cfg = config_lib.Config(cas=config_lib.CASConfig(network="mil", hidden_dim=8,
                                                   topk_fraction=0.25))
  net = model_lib.build_net("cas", 3, 5, cfg)
  assert net.pooling == "topk" and not hasattr(net, "attention_out")
  x = np.random.default_rng(0).normal(size=[2, 8, 5]).astype(np.float32)
  mask = np.ones([2, 8], np.float32)
  out = net(x, mask)
  # attention = sigmoid of the best class logit; video logits = mean of the top 2 of 8.
  np.testing.assert_allclose(out["attention"].numpy(),
                             tf.sigmoid(tf.reduce_max(out["tcas"], -1)).numpy(), rtol=1e-6)
  top2 = np.sort(out["tcas"].numpy(), axis=1)[:, -2:].mean(1)
  np.testing.assert_allclose(out["video_logits"].numpy(), top2, rtol=1e-5)


def test_unknown_pooling_is_a_clear_error():
  with pytest.raises(ValueError, match="pooling='max'"):
    cas.CASNet(2, pooling="max")


@pytest.mark.parametrize("network,uses_sparsity", [("stpn", True), ("mil", False)])
def test_sparsity_loss_applies_to_the_stpn_network_only(network, uses_sparsity):
  cas_cfg = config_lib.CASConfig(network=network, hidden_dim=4, attention_dim=2, dropout=0.0,
                                 sparsity_weight=1000.0)
  net = model_lib.build_net("cas", 2, 3, config_lib.Config(cas=cas_cfg))
  optimizer = keras.optimizers.SGD(0.0)
  optimizer.build(net.trainable_variables)
  step = tf.function(training.cas_replica_step(net, optimizer, cas_cfg, 1))
  batch = {"features": tf.ones([1, 4, 3]), "mask": tf.ones([1, 4]),
           "labels": tf.constant([[1.0, 0.0]])}
  loss = float(step(batch)["loss"])
  assert (loss > 100.0) == uses_sparsity


def test_probability_maps_are_the_calibrated_sigmoids_and_minmax_maps_normalise():
  outputs = {"tcas": tf.constant([[[0.0], [2.0], [-2.0]]]), "attention": tf.ones([1, 3])}
  mask = tf.constant([[1.0, 1.0, 0.0]])
  prob = cas.localization_map(outputs, mask, "probability").numpy()[0, :, 0]
  np.testing.assert_allclose(prob, [0.5, 1 / (1 + np.exp(-2.0)), 0.0], rtol=1e-6)
  minmax = cas.localization_map(outputs, mask, "minmax").numpy()[0, :, 0]
  np.testing.assert_allclose(minmax, [0.0, 1.0, 0.0], atol=1e-6)  # every video reaches 1


def test_temporal_kernel_bce_probability_network_round_trips_and_ignores_padding(tmp_path):
  cfg = config_lib.Config(cas=config_lib.CASConfig(
      network="mil", hidden_dim=8, kernel_size=3, loss="bce", maps="probability"))
  net = model_lib.build_net("cas", 3, 5, cfg)
  assert net.embed.kernel.shape == (3, 5, 8)
  x = np.random.default_rng(0).normal(size=[1, 6, 5]).astype(np.float32)
  alone = net(x, np.ones([1, 6], np.float32))["tcas"].numpy()
  padded = np.concatenate([x, np.ones([1, 2, 5], np.float32)], axis=1)
  with_padding = net(padded, np.array([[1.0] * 6 + [0.0] * 2], np.float32))["tcas"].numpy()
  np.testing.assert_allclose(with_padding[:, :6], alone, rtol=1e-5, atol=1e-5)
  # Video scores are per-class sigmoids under the bce loss.
  logits = tf.constant([[0.0, 1.0, -1.0]])
  np.testing.assert_allclose(net.video_probabilities(logits).numpy(),
                             tf.sigmoid(logits).numpy(), rtol=1e-6)
  path = str(tmp_path / "cas.keras")
  net.save(path)
  loaded = keras.saving.load_model(path)
  assert (loaded.kernel_size, loaded.loss, loaded.maps) == (3, "bce", "probability")
  np.testing.assert_allclose(loaded(x, np.ones([1, 6], np.float32))["tcas"].numpy(), alone,
                             rtol=1e-5, atol=1e-6)

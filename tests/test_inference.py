"""The forward path of evaluation, predict and export: fusion, class scores, detections."""
import dataclasses

import numpy as np
import pytest

from assg_tf import config as config_lib
from assg_tf import inference, model as model_lib

CFG = config_lib.Config(model=config_lib.ModelConfig(hidden_dim=8),
                        predict=config_lib.PredictConfig(video_scores="own"),
                        cas=config_lib.CASConfig(hidden_dim=8, attention_dim=4))
INFO = config_lib.DatasetInfo(("a", "b", "c"), rgb_dim=4, flow_dim=5)


def _nets(kind):
  return {"rgb": model_lib.build_net(kind, 3, 4, CFG), "flow": model_lib.build_net(kind, 3, 5, CFG)}


def _inputs(batch=2, length=20):
  rng = np.random.default_rng(0)
  return (rng.normal(size=[batch, length, 9]).astype(np.float32),
          np.array([length, length // 2][:batch], np.int32), np.full([batch], 0.64, np.float32))


def test_video_scores_come_from_the_cas_networks_when_asked():
  assg, cas = _nets("assg"), _nets("cas")
  features, lengths, deltas = _inputs()
  own = inference.Predictor(assg, INFO, CFG.predict).forward(features, lengths, deltas)
  cfg = dataclasses.replace(CFG.predict, video_scores="cas")
  mixed = inference.Predictor(assg, INFO, cfg, score_nets=cas).forward(features, lengths, deltas)
  cas_only = inference.Predictor(cas, INFO, CFG.predict).forward(features, lengths, deltas)
  np.testing.assert_allclose(mixed["heatmaps"], own["heatmaps"], rtol=1e-6)  # ASSG's heatmap
  np.testing.assert_allclose(mixed["video_scores"], cas_only["video_scores"], rtol=1e-5)
  assert not np.allclose(mixed["video_scores"], own["video_scores"])


def test_cas_scores_without_cas_networks_is_refused():
  with pytest.raises(ValueError, match='video_scores="cas" needs the CAS networks'):
    inference.Predictor(_nets("assg"), INFO, dataclasses.replace(CFG.predict,
                                                                 video_scores="cas"))


def test_one_trace_for_every_length_and_padding_rows_are_empty():
  predictor = inference.Predictor(_nets("assg"), INFO, CFG.predict)
  for length in (5, 17, 60):
    out = predictor.forward(*_inputs(2, length))
    assert out["heatmaps"].shape == (2, length, 4)
    np.testing.assert_array_equal(out["heatmaps"][1, length // 2:], 0.0)
    ends = out["detection_segments"].numpy()[1, :int(out["num_detections"][1]), 1]
    assert np.all(ends <= (length // 2) * 0.64 + 1e-5)  # nothing past the second video's end
  assert predictor.forward.experimental_get_tracing_count() == 1


def _dataset(features, lengths, deltas):
  import tensorflow as tf
  return tf.data.Dataset.from_tensor_slices({
      "features": features, "num_segments": lengths, "seconds_per_segment": deltas,
      "video_id": np.array([b"v0", b"v1"]), "labels": np.eye(3, dtype=np.float32)[:2],
  }).batch(2)


def test_settings_reusing_one_network_pass_predict_what_a_fresh_predictor_does():
  assg, cas = _nets("assg"), _nets("cas")
  batches = _dataset(*_inputs())
  base = dataclasses.replace(CFG.predict, video_scores="cas", class_threshold=0.0)
  predictor = inference.Predictor(assg, INFO, base, score_nets=cas)
  outputs = predictor.stream_outputs_of(batches)
  for change in ({"rgb_weight": 0.2}, {"proposal_score": "mean", "video_score_weight": 1.0}):
    cfg = dataclasses.replace(base, **change)
    reused = predictor.with_config(cfg).predict_dataset(outputs, INFO.class_names)
    fresh = inference.Predictor(assg, INFO, cfg, score_nets=cas).predict_dataset(
        batches, INFO.class_names)
    assert reused[0] == fresh[0] and len(fresh[0]["v0"]) > 0  # the same detections
    np.testing.assert_array_equal(reused[1], fresh[1])  # the CAS networks' video scores
  assert predictor.stream_outputs.experimental_get_tracing_count() == 1
  # Settings that differ only in the two weights share one traced detection function.
  for weights in ({"rgb_weight": 0.7}, {"rgb_weight": 0.5, "video_score_weight": 0.5}):
    predictor.with_config(dataclasses.replace(base, **weights)).predict_dataset(
        outputs, INFO.class_names)
  functions = predictor._detect_functions.values()  # pylint: disable=protected-access
  assert len(functions) == 2  # contrast and mean
  assert all(f.experimental_get_tracing_count() == 1 for f in functions)
  with pytest.raises(ValueError, match="with_config keeps the video scores' source"):
    predictor.with_config(dataclasses.replace(base, video_scores="own"))

r"""Serving latency of the exported SavedModel (docs/DESIGN.md "Figures": "Serving latency of the
SavedModel for
one 400-segment video and for a batch").

    python benchmarks/bench_serving.py [--model_dir=OUT] [--repeats=20]

Without --model_dir, two-stream ASSG networks of the real THUMOS'14 size (I3D rgb and flow
1024 channels each, hidden 512, 20 classes) with random weights are exported; their weights are
scaled so that the heatmaps have structure and the proposal / NMS stage has work to do (an
untrained network's near-uniform heatmap gives almost no proposals). With --model_dir, the
trained run's assg networks are exported instead (its own widths and classes).

For one 400-segment video and a batch of 8 (T = 400, real lengths 400, 350, ..., 50) it prints
the median latency of repeated calls after warm-up of:
  * `serving_default` of the SavedModel loaded with `tf.saved_model.load` (what TF Serving runs,
    minus RPC);
  * the same forward pass in memory (`inference.Predictor.forward`);
  * a heatmaps-only tf.function on the same networks (`model.two_stream_maps`): the column
    `1-heat/mem` = 1 - heatmaps-only / in-memory forward is the share of the forward pass spent
    after the heatmaps (proposals + NMS);
  * `proposals.detect` alone on those heatmaps (`detect`), the same stage measured directly.
All four are timed in interleaved rounds (the machine may be shared), medians reported.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from assg_tf import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import inference  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import model as model_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import proposals  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import run_dir  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import serving  # pylint: disable=g-import-not-at-top,wrong-import-position

flags.DEFINE_string("model_dir", None, "A trained run to benchmark (default: random nets of "
                    "THUMOS'14 size).")
flags.DEFINE_integer("repeats", 20, "Timed calls per measurement (after 3 warm-up calls).")
FLAGS = flags.FLAGS


def _interleaved_medians_ms(fns, repeats: int):
  """Median milliseconds of each function, timed in interleaved rounds (one call of each per
  round), so drifting load on a shared machine hits them alike."""
  for fn in fns:
    for _ in range(3):  # warm-up
      fn()
  times = [[] for _ in fns]
  for _ in range(repeats):
    for fn, bucket in zip(fns, times):
      t0 = time.perf_counter()
      fn()
      bucket.append(time.perf_counter() - t0)
  return [1000.0 * statistics.median(t) for t in times]


def _random_nets(cfg, num_classes: int, dim: int):
  rng = np.random.default_rng(0)
  nets = {}
  for stream in ("rgb", "flow"):
    net = model_lib.build_net("assg", num_classes, dim, cfg, name=f"assg_{stream}")
    for v in net.trainable_variables:
      # Glorot-sized weights scaled up: logits of a few units, peaked heatmaps.
      scale = 3.0 / np.sqrt(v.shape[0]) if len(v.shape) == 2 else 0.0
      v.assign(rng.normal(0.0, scale, v.shape).astype(np.float32))
    nets[stream] = net
  return nets


def main(argv):
  del argv
  if FLAGS.model_dir:
    run = run_dir.read_run(FLAGS.model_dir)
    cfg, info = run.config, run.info
    nets = run_dir.load_nets(FLAGS.model_dir, "assg", run.streams)
    score_nets = run_dir.load_score_nets(FLAGS.model_dir, cfg, run.streams)
    source = f"trained run {FLAGS.model_dir}"
  else:
    # Random ASSG networks only: their own class scores (the default takes the CAS networks').
    cfg = config_lib.Config(predict=config_lib.PredictConfig(video_scores="own"))
    info = config_lib.DatasetInfo(tuple(f"class_{i:02d}" for i in range(20)), 1024, 1024,
                                  seconds_per_segment=0.64)
    nets, score_nets = _random_nets(cfg, info.num_classes, 1024), None
    source = "random nets, rgb/flow 1024 + 1024, hidden 512, 20 classes"
  dim, delta = info.feature_dim, info.seconds_per_segment
  predictor = inference.Predictor(nets, info, cfg.predict, score_nets=score_nets)
  heatmaps_only = tf.function(
      lambda x, n: model_lib.two_stream_maps(
          nets, x, tf.sequence_mask(n, tf.shape(x)[1], dtype=tf.float32), info.rgb_dim,
          cfg.predict.rgb_weight),
      input_signature=[tf.TensorSpec([None, None, dim], tf.float32),
                       tf.TensorSpec([None], tf.int32)])

  detect = tf.function(lambda f, n, s, d: proposals.detect(f, n, s, d, cfg.predict),
                       input_signature=[tf.TensorSpec([None, None, None], tf.float32),
                                        tf.TensorSpec([None], tf.int32),
                                        tf.TensorSpec([None, None], tf.float32),
                                        tf.TensorSpec([None], tf.float32)])

  with tempfile.TemporaryDirectory() as tmp:
    path = serving.export_saved_model(nets, info, cfg, tmp, score_nets=score_nets)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    rng = np.random.default_rng(1)
    cases = {
        "1 video, T=400": (rng.normal(size=[1, 400, dim]), [400]),
        "batch of 8, T=400": (rng.normal(size=[8, 400, dim]), list(range(400, 0, -50))),
    }
    print(f"serving latency ({source}); median of {FLAGS.repeats} calls after 3 warm-up, "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'} intra-op "
          f"threads, {os.cpu_count()} CPUs")
    print(f"{'input':<20} {'SavedModel':>11} {'in memory':>10} {'heatmaps':>9} "
          f"{'1-heat/mem':>10} {'detect':>11} {'detections':>11}")
    for name, (x, lengths) in cases.items():
      x = tf.constant(x, tf.float32)
      n = tf.constant(lengths, tf.int32)
      deltas = tf.fill([len(lengths)], delta)
      out = serve(features=x, num_segments=n)
      fused, scores = heatmaps_only(x, n)
      saved_ms, full_ms, heat_ms, detect_ms = _interleaved_medians_ms([
          lambda: serve(features=x, num_segments=n)["num_detections"].numpy(),
          lambda: predictor.forward(x, n, deltas)["num_detections"].numpy(),
          lambda: heatmaps_only(x, n)[0].numpy(),
          lambda: detect(fused, n, scores, deltas)["num_detections"].numpy(),
      ], FLAGS.repeats)
      share = max(0.0, 1.0 - heat_ms / full_ms)
      print(f"{name:<20} {saved_ms:>9.1f}ms {full_ms:>8.1f}ms {heat_ms:>7.1f}ms "
            f"{100 * share:>9.0f}% {detect_ms:>9.1f}ms "
            f"{int(out['num_detections'].numpy().sum()):>11d}")

if __name__ == "__main__":
  app.run(main)

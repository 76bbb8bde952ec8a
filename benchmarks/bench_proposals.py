"""Times location prediction (paper 3.5, eq. 6; assg_tf/proposals.py) inside a tf.function.

    python benchmarks/bench_proposals.py [--lengths=400] [--repeats=20]

For one video and a batch of 8, THUMOS-sized (C = 20) and ActivityNet-sized (C = 200): the
`detect` tf.function (default PredictConfig: 19 levels, no smoothing, Soft-NMS, 500
detections; and the same with hard NMS at 0.5) on smooth random heatmaps (softmax of random
walks over time, so runs look like a model's). Video scores put most mass on 1-3 classes, as a
trained model's do ("typical"); the
"all classes" rows set class_threshold = 0 so that every class of every video is localised
(the worst case).
Prints the median and the spread (min-max) of the wall time per call, after one warm-up call
(the trace), and the number of proposals that went to NMS.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import time

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from assg_tf import proposals
from assg_tf.config import PredictConfig

_LENGTHS = flags.DEFINE_list("lengths", ["400"], "Video lengths T (segments) to time.")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed calls per setting.")


def _inputs(batch, length, num_classes, seed=0):
  """Heatmaps and video scores of `batch` videos with 1-3 actions each."""
  rng = np.random.default_rng(seed)
  logits = np.cumsum(rng.normal(0.0, 0.5, [batch, length, num_classes + 1]), axis=1)
  scores = rng.normal(0.0, 1.0, [batch, num_classes])
  for b in range(batch):
    present = rng.choice(num_classes, rng.integers(1, 4), replace=False)
    scores[b, present] += 6.0
    logits[b, :, present + 1] += 4.0  # the video's actions are strong in its heatmap
  fused = np.exp(logits - logits.max(-1, keepdims=True))
  fused /= fused.sum(-1, keepdims=True)
  scores = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
  return (tf.constant(fused, tf.float32), tf.constant(np.full([batch], length, np.int32)),
          tf.constant(scores, tf.float32), tf.constant(np.full([batch], 0.64, np.float32)))


def _time(fn, args, repeats):
  fn(*args)["num_detections"].numpy()  # trace + warm-up
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn(*args)["num_detections"].numpy()
    times.append(time.perf_counter() - start)
  return np.median(times) * 1e3, min(times) * 1e3, max(times) * 1e3


def main(argv):
  del argv
  print(f"TF {tf.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
        f"(other processes share them); {_REPEATS.value} timed calls per row")
  print(f"{'setting':<44} {'B':>2} {'T':>6} {'C':>4} {'pairs':>6} {'proposals':>9} "
        f"{'median ms':>10} {'min-max ms':>14}")
  for (selection, class_threshold), (nms, sigma) in itertools.product(
      (("typical", PredictConfig().class_threshold), ("all classes", 0.0)),
      (("soft", PredictConfig().soft_nms_sigma), ("hard", 0.0))):
    cfg = dataclasses.replace(PredictConfig(), class_threshold=class_threshold,
                              soft_nms_sigma=sigma)
    selection = f"{selection}, {nms} NMS"
    # `proposals.detect` traced once for every batch, T and C (as in the SavedModel).
    fn = tf.function(lambda f, n, s, d, cfg=cfg: proposals.detect(f, n, s, d, cfg),
                     input_signature=[tf.TensorSpec([None, None, None], tf.float32),
                                      tf.TensorSpec([None], tf.int32),
                                      tf.TensorSpec([None, None], tf.float32),
                                      tf.TensorSpec([None], tf.float32)])
    for num_classes, name in ((20, "THUMOS"), (200, "ActivityNet")):
      for length in (int(x) for x in _LENGTHS.value):
        for batch in (1, 8):
          args = _inputs(batch, length, num_classes)
          selected = proposals.select_classes(args[2], cfg.class_threshold)
          found = proposals.proposals(args[0], args[1], selected, cfg.proposal_thresholds)
          num_proposals = int(tf.reduce_sum(tf.cast(found["valid"], tf.int32)))
          median, low, high = _time(fn, args, _REPEATS.value)
          print(f"{name + ', ' + selection:<44} {batch:>2} {length:>6} {num_classes:>4} "
                f"{int(tf.reduce_sum(tf.cast(selected, tf.int32))):>6} {num_proposals:>9} "
                f"{median:>10.2f} {low:>6.2f}-{high:<7.2f}")
    print(f"traces of the detect tf.function: {fn.experimental_get_tracing_count()}")


if __name__ == "__main__":
  app.run(main)

r"""How long are the detections of the CAS seed networks, against the true instances?

    python benchmarks/detection_lengths.py --flagfile=benchmarks/regimes/anet.flags --seeds=0 \
        --workdir=W

Reuses the CAS networks that `experiments.py` trained and cached in `--workdir` (it trains
them if they are missing), runs them on the test videos with both proposal scores, and prints
the median length of the detections and of the top-scored detection of each video, the share
of detections shorter than 3 s, and the median length of the true instances. Docs/RESULTS.md
uses it to show why the CAS baselines score so low on the ActivityNet-like regime: they fire
on isolated segments, so thresholding gives fragments far shorter than the instances.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from absl import app, logging

import experiments  # benchmarks/experiments.py: its flags, regimes and cache
from assg_tf import distribute, inference, input_pipeline
from assg_tf import flags as assg_flags

FLAGS = experiments.FLAGS


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  # The first of --seeds, with exactly the spec and config experiments.py caches under.
  runner, = experiments.runners_from_flags(distribute.create_strategy(),
                                           [int(FLAGS.seeds[0])])
  seed, base = runner.seed, runner.base
  truth = np.array([e - s for x in runner.test.as_numpy_iterator() for s, e in x["segments"]])
  print(f"{FLAGS.regime or FLAGS.spec}, seed {seed}: true instances, median "
        f"{np.median(truth):.1f} s")
  for preset, network in (("paper", "stpn"), ("ours", "mil")):
    cfg, nets = runner.provider(experiments.Row("CAS", "cas", preset))
    for score in ("mean", "contrast"):
      predictor = inference.Predictor(
          nets, runner.info, dataclasses.replace(cfg.predict, proposal_score=score), score_nets=nets)
      results, _, _, _ = predictor.predict_dataset(
          input_pipeline.eval_dataset(runner.test, base.data.batch_size),
          runner.info.class_names)
      lengths = np.array([d["segment"][1] - d["segment"][0]
                          for video in results.values() for d in video])
      top = np.array([v[0]["segment"][1] - v[0]["segment"][0] for v in results.values() if v])
      print(f"  {network.upper()}-CAS, {score} proposal score: "
            f"{len(lengths) / max(len(results), 1):.0f} detections per video, median "
            f"{np.median(lengths):.1f} s, {100 * np.mean(lengths < 3):.0f} % shorter than 3 s; "
            f"top-scored detection per video: median {np.median(top):.1f} s")


if __name__ == "__main__":
  assg_flags.define_flags()
  app.run(assg_flags.with_clear_errors(main))

r"""Writes a synthetic dataset in the per-video layout that users' real features have, so that
`python -m assg_tf.train --dataset=thumos14|activitynet13 --manual_dir=OUT` runs on it.

    python benchmarks/write_synthetic_layout.py --spec=synthetic_thumos --feature_dim=1024 \
        --class_scale=4 --out=/tmp/thumos_sized

`synthetic_thumos` at 1024-d is THUMOS'14-sized (200 training / 212 test videos, 2 x 1024-d,
the real annotations): the data of the whole-run timing of `configs/thumos.flags`
(docs/RESULTS.md section 3). `--class_scale` multiplies both streams' class strengths: the
generator gives the class signal a fixed norm in per-channel noise units, so at 1024-d it is a
16x smaller share of the feature variance than in the 64-d regimes; `--class_scale=4`
(sqrt(1024 / 64)) restores the regimes' share (docs/RESULTS.md section 3 measures both).
"""
from __future__ import annotations

import dataclasses
import time

from absl import app, flags

from assg_tf import synthetic

flags.DEFINE_string("spec", "synthetic_thumos", "Synthetic spec: synthetic, synthetic_thumos, "
                    "synthetic_anet.")
flags.DEFINE_integer("feature_dim", None, "Override the spec's feature width per stream.")
flags.DEFINE_float("class_scale", 1.0, "Multiply both streams' class strengths by this.")
flags.DEFINE_integer("seed", 0, "Dataset seed.")
flags.DEFINE_integer("num_train_videos", None, "Override the spec's training videos.")
flags.DEFINE_integer("num_test_videos", None, "Override the spec's test videos.")
flags.DEFINE_bool("joint", False, "One [T, 2D] file per video (rgb first) instead of "
                  "rgb/ and flow/ folders.")
flags.DEFINE_string("out", None, "Output folder (the --manual_dir of the training command).")
flags.mark_flag_as_required("out")
FLAGS = flags.FLAGS


def spec_from_flags() -> synthetic.SyntheticSpec:
  spec = synthetic.SPECS[FLAGS.spec]
  changes = {name: FLAGS[name].value for name in ("feature_dim", "num_train_videos",
                                                  "num_test_videos")
             if FLAGS[name].value is not None}
  return dataclasses.replace(
      spec, seed=FLAGS.seed, **changes,
      rgb_class_strength=spec.rgb_class_strength * FLAGS.class_scale,
      flow_class_strength=spec.flow_class_strength * FLAGS.class_scale)


def main(argv):
  del argv
  spec = spec_from_flags()
  t0 = time.time()
  synthetic.write_per_video_layout(spec, FLAGS.out, joint=FLAGS.joint)
  print(f"wrote {spec.name} ({spec.feature_dim}-d, class strengths rgb "
        f"{spec.rgb_class_strength:g} / flow {spec.flow_class_strength:g}, seed {spec.seed}) to "
        f"{FLAGS.out} in {time.time() - t0:.0f} s")


if __name__ == "__main__":
  app.run(main)

r"""`python -m assg_tf.export`: a trained run as a TF Serving SavedModel (docs/DESIGN.md
"Commands", "Serving"; paper 3.5).

    python -m assg_tf.export --model_dir=OUT --export_dir=EXPORT [--variant=assg] [--version=N]

writes `EXPORT/<version>/` (default EXPORT: OUT/export; default version: one more than the
largest there), the SavedModel of `serving.export_saved_model`, from the run's run.json and
.keras files (`run_dir.py`), with the post-processing the run chose.
"""
from __future__ import annotations

from absl import app
from absl import flags

from assg_tf import config as config_lib
from assg_tf import flags as assg_flags
from assg_tf import run_dir
from assg_tf import serving

FLAGS = flags.FLAGS


def define_flags() -> None:
  flags.DEFINE_string("model_dir", None, "The trained run (run.json, models/*.keras).")
  flags.DEFINE_string("export_dir", None, "Base folder of the SavedModel versions; default "
                      "<model_dir>/export.")
  flags.DEFINE_enum("variant", "assg", config_lib.VARIANTS, "Which trained variant to export.")
  flags.DEFINE_integer("version", None, "Version folder; default: the next free integer.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if not FLAGS.model_dir:
    raise app.UsageError("--model_dir is required")
  run = run_dir.read_run(FLAGS.model_dir)
  nets = run_dir.load_nets(FLAGS.model_dir, FLAGS.variant, run.streams)
  path = serving.export_saved_model(
      nets, run.info, run.config, FLAGS.export_dir or run_dir.export_dir(FLAGS.model_dir),
      FLAGS.version, run_dir.load_score_nets(FLAGS.model_dir, run.config, run.streams))
  print(f"exported {FLAGS.variant} ({', '.join(sorted(nets))}) to {path}")


if __name__ == "__main__":
  assg_flags.run_command(main, define_flags)

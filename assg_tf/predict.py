r"""Detections for new videos from their features (SPEC section 5; paper 3.5).

    python -m assg_tf.predict --model_dir=OUT --features=V.npy --output=detections.json
    python -m assg_tf.predict --model_dir=OUT --features=RGB_DIR --flow_features=FLOW_DIR ...
    python -m assg_tf.predict --export_dir=OUT/export/1 --features=FOLDER ...
    python -m assg_tf.predict --model_dir=OUT --video=X.mp4 --output=detections.json

Inputs (`--features`: one .npy file or a folder of .npy files, video id = file name without
`.npy`):
- joint: each file is float [T, rgb_dim + flow_dim], rgb channels first;
- with `--flow_features`: `--features` holds rgb [T, rgb_dim] and `--flow_features` flow
  [T, flow_dim] (two files, or two folders matched by file name).

The model is either the trained run (`--model_dir`: run.json and `models/<variant>_<stream>.keras`,
run through `inference.Predictor`, the evaluation path) or an exported SavedModel (`--export_dir`:
a version folder, or the base folder, whose highest version is used), run through its
`serving_default` signature. Both give the same detections (tests/test_export.py). The output
is the ActivityNet results format (`evaluation.write_predictions`), written atomically.

Bad input raises `features.FeatureError` naming the file: not a .npy file, wrong rank or width,
T = 0, NaN / inf, an rgb file without its flow file or the reverse, rgb and flow lengths that
differ. Choice where SPEC is silent: rgb and flow lengths may differ by at most
`features.MAX_LENGTH_MISMATCH` rows and are trimmed to the shorter, exactly as the training data
reader does (feature releases often compute flow on frame pairs, one row short); a larger
difference is an error.

Videos are sorted by length and run in padded batches of `--batch_size` (one call per batch,
not per video).

`--video` (a video file or a folder of them) starts from the videos themselves, for a run
trained on the RGB stream only (`train --streams=rgb`) on 1024-d I3D features: their I3D RGB
features are extracted first (`assg_tf.extraction`, DeepMind's Kinetics-400 weights, see
`assg_tf.i3d` and `--i3d_checkpoint`) with snippets of the run's own length (step = stack =
seconds_per_segment x 25 frames: 16 for the THUMOS'14 configs), and cached in the per-video
layout under `--video_features` (default: `features/test/rgb/` beside `--output`; done videos
are not extracted again). The flow columns of the features are zeros, which an RGB-only run
never reads.
"""
from __future__ import annotations

import os
import re
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from assg_tf import evaluation
from assg_tf import export
from assg_tf import flags as assg_flags
from assg_tf import features as features_lib
from assg_tf import inference
from assg_tf import proposals

FeatureError = features_lib.FeatureError
# (features [B, T, D] float32, num_segments [B] int32) -> the outputs of SPEC 6.
ForwardFn = Callable[[np.ndarray, np.ndarray], Mapping[str, tf.Tensor]]


# ---------------------------------------------------------------------------------------------
# Reading features.


def _npy_files(folder: str) -> Dict[str, str]:
  """{video_id: path} of the .npy files of a folder."""
  return {name[:-len(".npy")]: os.path.join(folder, name)
          for name in sorted(os.listdir(folder)) if name.endswith(".npy")}


def _read(path: str, width: int) -> np.ndarray:
  return features_lib.check_features(features_lib.read_npy(path), path, width)


def read_features(path: str, rgb_dim: int, flow_dim: int, flow_path: Optional[str] = None
                  ) -> List[Tuple[str, np.ndarray]]:
  """Reads the videos to predict: [(video_id, float32 [T, rgb_dim + flow_dim])], sorted by id.

  Args:
    path: a .npy file or a folder of them: joint features, or rgb when `flow_path` is given.
    rgb_dim, flow_dim: the widths the model was trained on.
    flow_path: flow features, a file (when `path` is a file) or a folder (when `path` is one).

  Raises:
    FeatureError naming the offending file.
  """
  if not os.path.exists(path):
    raise FeatureError(f"missing features: {path} is neither a .npy file nor a folder")
  if flow_path is not None and not os.path.exists(flow_path):
    raise FeatureError(f"missing flow features: {flow_path} is neither a .npy file nor a folder")
  if os.path.isdir(path):
    rgb_files = _npy_files(path)
    if not rgb_files:
      raise FeatureError(f"{path}: no .npy feature files in the folder")
    if flow_path is None:
      pairs = {video: (file, None) for video, file in rgb_files.items()}
    else:
      if not os.path.isdir(flow_path):
        raise FeatureError(f"--flow_features={flow_path} must be a folder when --features="
                           f"{path} is a folder (files are matched by name)")
      flow_files = _npy_files(flow_path)
      for video in sorted(set(rgb_files) ^ set(flow_files)):
        have, lack = ((rgb_files[video], flow_path) if video in rgb_files
                      else (flow_files[video], path))
        raise FeatureError(f"{have} has no counterpart {video}.npy in {lack}; rgb and flow "
                           "folders must hold the same file names")
      pairs = {video: (rgb_files[video], flow_files[video]) for video in rgb_files}
  else:
    if flow_path is not None and os.path.isdir(flow_path):
      raise FeatureError(f"--flow_features={flow_path} is a folder but --features={path} is a "
                         "file; give two files or two folders")
    video = os.path.basename(path)
    video = video[:-len(".npy")] if video.endswith(".npy") else video
    pairs = {video: (path, flow_path)}

  videos = []
  for video, (first, flow_file) in sorted(pairs.items()):
    if flow_file is None:
      joint = _read(first, rgb_dim + flow_dim)
    else:
      rgb, flow = features_lib._match_stream_lengths(  # pylint: disable=protected-access
          _read(first, rgb_dim), _read(flow_file, flow_dim), first, flow_file)
      joint = np.concatenate([rgb, flow], axis=1)
    videos.append((video, joint))
  return videos


# ---------------------------------------------------------------------------------------------
# Running a model.


def predict_videos(videos: Sequence[Tuple[str, np.ndarray]], forward: ForwardFn,
                   class_names: Sequence[str], batch_size: int = 8
                   ) -> Dict[str, List[Dict[str, object]]]:
  """Detections of every video in the ActivityNet results dict {video_id: [{label, segment,
  score}]} (`proposals.to_results`).

  Videos are sorted by length and padded to the longest of each batch of `batch_size`.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size={batch_size}: expected a positive int")
  order = sorted(range(len(videos)), key=lambda i: videos[i][1].shape[0])
  results = {}
  for lo in range(0, len(order), batch_size):  # one call per batch
    chunk = [videos[i] for i in order[lo:lo + batch_size]]
    lengths = np.array([x.shape[0] for _, x in chunk], np.int32)
    batch = np.zeros([len(chunk), lengths.max(), chunk[0][1].shape[1]], np.float32)
    for row, (_, x) in enumerate(chunk):
      batch[row, :x.shape[0]] = x
    outputs = forward(batch, lengths)
    outputs = {key: np.asarray(outputs[key]) for key in proposals.OUTPUT_KEYS}
    results.update(proposals.to_results(outputs, [video for video, _ in chunk], class_names))
  return results


class Model:
  """What prediction needs of a trained model: widths, class names and its forward pass."""

  def __init__(self, rgb_dim: int, flow_dim: int, class_names: Sequence[str],
               seconds_per_segment: float, forward: ForwardFn):
    self.rgb_dim = rgb_dim
    self.flow_dim = flow_dim
    self.class_names = tuple(class_names)
    self.seconds_per_segment = seconds_per_segment
    self.forward = forward


def model_from_run(model_dir: str, variant: str = "assg") -> Model:
  """The networks of a trained run (.keras files) behind `inference.Predictor`."""
  run = export.read_run(model_dir)
  info = export.run_info(run)
  cfg = export.config_from_dict(run["config"])
  nets = export.load_nets(model_dir, variant, run["streams"])
  predictor = inference.Predictor(
      nets, info.rgb_dim, info.rgb_dim + info.flow_dim, cfg.predict,
      score_nets=export.load_score_nets(model_dir, cfg, variant, run["streams"]))
  delta = float(run["seconds_per_segment"])

  def forward(features, num_segments):
    return predictor.forward(features, num_segments,
                             np.full([len(num_segments)], delta, np.float32))

  return Model(info.rgb_dim, info.flow_dim, info.class_names, delta, forward)


def saved_model_path(export_dir: str) -> str:
  """A SavedModel folder: `export_dir` itself, or its highest integer version subfolder."""
  if os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
    return export_dir
  versions = []
  if os.path.isdir(export_dir):
    versions = [int(v) for v in os.listdir(export_dir) if re.fullmatch(r"\d+", v)
                and os.path.isfile(os.path.join(export_dir, v, "saved_model.pb"))]
  if not versions:
    raise FileNotFoundError(f"{export_dir} is neither a SavedModel (no saved_model.pb) nor a "
                            "folder of numbered SavedModel versions")
  return os.path.join(export_dir, str(max(versions)))


def model_from_saved_model(export_dir: str) -> Model:
  """An exported SavedModel (assg_tf.export) behind its `serving_default` signature."""
  loaded = tf.saved_model.load(saved_model_path(export_dir))
  serve = loaded.signatures["serving_default"]
  dims = {k: int(v) for k, v in loaded.feature_dims().items()}
  names = [n.decode("utf-8") for n in loaded.class_names()["class_names"].numpy()]
  delta = float(loaded.seconds_per_segment()["seconds_per_segment"])

  def forward(features, num_segments):
    return serve(features=tf.constant(features, tf.float32),
                 num_segments=tf.constant(num_segments, tf.int32))

  model = Model(dims["rgb_dim"], dims["flow_dim"], names, delta, forward)
  model.loaded = loaded  # keeps the restored variables alive with the signature
  return model


# ---------------------------------------------------------------------------------------------
# Command line.

FLAGS = flags.FLAGS


def define_flags() -> None:
  """The command's flags (defined only when it runs, like assg_tf.export's)."""
  flags.DEFINE_string("model_dir", None, "A trained run (run.json, models/*.keras).")
  flags.DEFINE_string("export_dir", None, "An exported SavedModel (a version folder or the "
                      "base folder of versions), instead of --model_dir.")
  flags.DEFINE_enum("variant", "assg", export.VARIANTS, "With --model_dir: which variant.")
  flags.DEFINE_string("features", None, "A .npy file or a folder of them: joint [T, rgb+flow] "
                      "features, or rgb [T, rgb_dim] with --flow_features.")
  flags.DEFINE_string("flow_features", None, "Flow [T, flow_dim] features: a file, or a folder "
                      "matched to --features by file name.")
  flags.DEFINE_string("output", None, "Detections JSON (ActivityNet results format).")
  flags.DEFINE_integer("batch_size", 8, "Videos per forward pass.")
  flags.DEFINE_string("video", None, "A video file or a folder of them, instead of --features "
                      "(runs trained with --streams=rgb): I3D RGB features are extracted first.")
  flags.DEFINE_string("i3d_checkpoint", None, "With --video: the Kinetics-400 I3D weights "
                      "(default: searched, see assg_tf.i3d).")
  flags.DEFINE_string("video_features", None, "With --video: where the extracted features are "
                      "cached (features/test/rgb/<video>.npy); default: beside --output.")


def run(features: str, output: str, model_dir: Optional[str] = None,
        export_dir: Optional[str] = None, variant: str = "assg",
        flow_features: Optional[str] = None, batch_size: int = 8) -> Dict[str, list]:
  """The command without its flags: reads, predicts, writes `output`; returns the results."""
  if (model_dir is None) == (export_dir is None):
    raise ValueError("give exactly one of model_dir (a trained run) and export_dir (a "
                     "SavedModel)")
  model = (model_from_run(model_dir, variant) if model_dir is not None
           else model_from_saved_model(export_dir))
  videos = read_features(features, model.rgb_dim, model.flow_dim, flow_features)
  results = predict_videos(videos, model.forward, model.class_names, batch_size)
  evaluation.write_predictions(output, results)
  return results


# ---------------------------------------------------------------------------------------------
# From video files (RGB-only runs).


def video_features_dir(output: str, video_features: Optional[str] = None) -> str:
  """Where `--video` caches its features: the per-video layout root (features/test/rgb/)."""
  return video_features or os.path.dirname(os.path.abspath(output))


def features_from_videos(videos: str, model_dir: str, root: str,
                         i3d_checkpoint: Optional[str] = None, extractor=None,
                         show_progress: bool = True) -> str:
  """Extracts (or finds already extracted) the I3D RGB features of `videos` for the RGB-only
  run `model_dir` under `root`/features/test/rgb; returns that folder."""
  from assg_tf import extract_features  # pylint: disable=g-import-not-at-top
  from assg_tf import extraction  # pylint: disable=g-import-not-at-top
  from assg_tf import video as video_lib  # pylint: disable=g-import-not-at-top
  run_info = export.read_run(model_dir)
  if list(run_info["streams"]) != ["rgb"] or int(run_info["rgb_dim"]) != features_lib.FEATURE_DIM:
    raise ValueError(
        f"--video needs a run trained on the RGB stream only with {features_lib.FEATURE_DIM}-d "
        f"I3D features (train --streams=rgb); {model_dir} has streams {run_info['streams']} "
        f"and rgb_dim {run_info['rgb_dim']}")
  frames = float(run_info["seconds_per_segment"]) * video_lib.FPS
  step = int(round(frames))
  if step < 1 or abs(frames - step) > 1e-3:
    raise ValueError(f"{model_dir}: seconds_per_segment {run_info['seconds_per_segment']} is "
                     f"not a whole number of frames at {video_lib.FPS:g} fps")
  summary = extract_features.run(videos, root, "test", i3d_checkpoint, step, step, "drop",
                                 extractor=extractor, show_progress=show_progress)
  if summary.failed:
    raise video_lib.VideoError("; ".join(reason for _, reason in summary.failed))
  return os.path.dirname(extraction.feature_path(root, "test", "x"))


def _pad_flow(videos: List[Tuple[str, np.ndarray]], flow_dim: int
              ) -> List[Tuple[str, np.ndarray]]:
  """RGB [T, rgb_dim] -> [T, rgb_dim + flow_dim] with zero flow columns (never read by an
  RGB-only run)."""
  return [(v, np.concatenate([x, np.zeros([len(x), flow_dim], np.float32)], axis=1))
          for v, x in videos]


def run_videos(videos: str, output: str, model_dir: str, variant: str = "assg",
               batch_size: int = 8, i3d_checkpoint: Optional[str] = None,
               video_features: Optional[str] = None, extractor=None,
               show_progress: bool = True) -> Dict[str, list]:
  """`run` from video files: extracts the features, predicts, writes `output`."""
  folder = features_from_videos(videos, model_dir, video_features_dir(output, video_features),
                                i3d_checkpoint, extractor, show_progress)
  model = model_from_run(model_dir, variant)
  from assg_tf import video as video_lib  # pylint: disable=g-import-not-at-top
  wanted = {v for v, _ in video_lib.list_videos(videos)}
  rgb = [(v, x) for v, x in read_features(folder, model.rgb_dim, 0) if v in wanted]
  results = predict_videos(_pad_flow(rgb, model.flow_dim), model.forward, model.class_names,
                           batch_size)
  evaluation.write_predictions(output, results)
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  if bool(FLAGS.model_dir) == bool(FLAGS.export_dir):
    raise app.UsageError("give exactly one of --model_dir and --export_dir")
  if FLAGS.video:
    if not FLAGS.model_dir or FLAGS.features or not FLAGS.output:
      raise app.UsageError("--video needs --model_dir and --output (and no --features)")
    results = run_videos(FLAGS.video, FLAGS.output, FLAGS.model_dir, FLAGS.variant,
                         FLAGS.batch_size, FLAGS.i3d_checkpoint, FLAGS.video_features)
    count = sum(len(v) for v in results.values())
    print(f"{count} detections in {len(results)} video(s) written to {FLAGS.output}")
    return
  if not FLAGS.features or not FLAGS.output:
    raise app.UsageError("--features and --output are required")
  results = run(FLAGS.features, FLAGS.output, FLAGS.model_dir or None, FLAGS.export_dir or None,
                FLAGS.variant, FLAGS.flow_features or None, FLAGS.batch_size)
  count = sum(len(v) for v in results.values())
  print(f"{count} detections in {len(results)} video(s) written to {FLAGS.output}")


if __name__ == "__main__":
  define_flags()
  app.run(assg_flags.with_clear_errors(main))

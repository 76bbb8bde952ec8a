"""Pictures of what the model sees, in the spirit of the paper's Figure 3 (`assg_tf.visualize`).

`draw` is `python -m assg_tf.visualize` without its flags. For one video and one class (default:
its top ground-truth class, the labelled class with the longest annotated time; ties to the
lower class index; a video without labels falls back to the top predicted class), one panel per
step of ASSG, all on one time axis in seconds:

1. ground truth of the class;
2. the CAS localisation map of each stream (`cas.localization_map`, the map the foreground
   seeds are thresholded from) with the seed threshold;
3. the initial seeds of each stream, foreground (the class) and background: read from
   `OUT/seeds/<stream>.npz` when the video is a training video that has them (exactly what
   training used), otherwise recomputed from the CAS network with `seeds.initial_seeds` (and
   joined across the streams, `seeds.join_dense`, when the run joined them);
4. the regions grown from them on each stream's ASSG heatmap (`growing.grow`, theta_g of the
   run, the video's ground-truth labels as in training);
5. the fused heatmap (eq. 6): the class's foreground probability and the background's;
6. the detections of the class (height = eq. 6 score) over the ground truth.

`curves` plots the training curves of every stage from the TensorBoard logs in `OUT/logs`
(one panel per logged quantity, one line per stage).

`draw_file` (`visualize --video`) draws a video file for a run trained with `--streams=rgb`:
frames along the video's timeline (the network's 224 x 224 view), the fused heatmap of the
class (default: the video's top-scoring class) and background, and the class's detections
(`video_file_maps`, `draw_video_file`). Its I3D RGB features are given, or extracted
(`extraction.features_for_run`, cached beside the figure).

The video's features come from the tfds `wtal` dataset named in run.json (its data_dir unless
`data_dir` is given). A video, class, split or variant that is not there is a ValueError naming
it and listing what is. Figures are drawn with matplotlib's Agg backend and written atomically.
"""
from __future__ import annotations

import dataclasses
import glob
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position
import tensorflow as tf  # pylint: disable=g-import-not-at-top,wrong-import-position

from assg_tf import cas as cas_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import config as config_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import extraction  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import features as features_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import growing  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import inference  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import input_pipeline  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import run_dir  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import seeds as seeds_lib  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import video as video_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

STREAM_COLORS = {"rgb": "tab:red", "flow": "tab:blue"}


# ---------------------------------------------------------------------------------------------
# What the model sees on one video.


def find_video(examples: tf.data.Dataset, video_id: str) -> Dict[str, np.ndarray]:
  """The dataset example of `video_id` (numpy values); ValueError listing some ids if absent."""
  found = examples.filter(lambda e: tf.equal(e["video_id"], video_id)).take(1)
  for example in found.as_numpy_iterator():
    return example
  some = [e.decode() for e in examples.map(lambda e: e["video_id"]).take(5).as_numpy_iterator()]
  raise ValueError(f"video_id={video_id!r} is not in this split; it has e.g. {some}")


def top_class(example: Dict[str, np.ndarray], num_classes: int) -> Optional[int]:
  """The labelled class with the longest annotated time (lowest index on ties), or None."""
  segments = np.reshape(example["segments"], (-1, 2)).astype(np.float64)
  labels = np.reshape(example["segment_labels"], (-1,)).astype(np.int64)
  if labels.size == 0:
    return None
  time = np.bincount(labels, weights=segments[:, 1] - segments[:, 0], minlength=num_classes)
  present = np.bincount(labels, minlength=num_classes) > 0
  return int(np.argmax(np.where(present, time, -1.0)))


def video_maps(example: Dict[str, np.ndarray], run: run_dir.Run, model_dir: str,
               variant: str = "assg", class_index: Optional[int] = None) -> Dict[str, Any]:
  """Everything Figure 3 draws for one video, as numpy arrays over its T segments.

  Args:
    example: a dataset example (docs/DESIGN.md) with numpy values.
    run: the run of `model_dir` (`run_dir.read_run`).
    model_dir: the trained run (models/*.keras, seeds/*.npz).
    variant: "assg" or "ssg": whose heatmaps are grown and fused.
    class_index: the class to show; None = `top_class`, else the top predicted class.

  Returns:
    A dict: `class_index`, `class_name`, `video_id`, `delta` (seconds per segment), `gt`
    ([K, 2] seconds of the class), `cas` ({stream: [T]} or {} without a CAS network),
    `fg_seed_threshold`, `seeds` ({stream: {"fg": bool [T], "bg": bool [T], "source": "file" |
    "cas"}}), `grown` ({stream: {"fg", "bg"}}), `heatmap_fg`, `heatmap_bg` ([T] fused),
    `detections` ([N, 2] seconds), `scores` [N], `num_other_detections`.
  """
  if variant not in ("ssg", "assg"):
    raise ValueError(f"variant={variant!r}: the grown regions need an ssg or assg network")
  cfg, info = run.config, run.info
  class_names = list(info.class_names)
  num_classes = info.num_classes
  stream_features = {s: np.asarray(example[s], np.float32)[None] for s in config_lib.STREAMS}
  length = stream_features["rgb"].shape[1]
  mask = np.ones([1, length], np.float32)
  labels = np.asarray(example["labels"], np.float32)[None]
  delta = float(example["seconds_per_segment"])
  streams = list(run.streams)
  nets = run_dir.load_nets(model_dir, variant, streams)

  predictor = inference.Predictor(
      nets, info, cfg.predict, score_nets=run_dir.load_score_nets(model_dir, cfg, streams))
  features = np.concatenate([stream_features["rgb"], stream_features["flow"]], axis=-1)
  out = predictor.forward(features, np.array([length], np.int32),
                          np.array([delta], np.float32))
  out = {k: v.numpy()[0] for k, v in out.items()}
  if class_index is None:
    class_index = top_class(example, num_classes)
  if class_index is None:
    class_index = int(np.argmax(out["video_scores"]))
  if not 0 <= class_index < num_classes:
    raise ValueError(f"class index {class_index} is outside [0, {num_classes})")

  cas_nets = {}
  if "cas" in run.variants or os.path.isfile(run_dir.model_path(model_dir, "cas", streams[0])):
    cas_nets = run_dir.load_nets(model_dir, "cas", streams)
  cas_maps, seeds, grown, dense_seeds = {}, {}, {}, {}
  channels = info.channels
  video_id = example["video_id"].decode() if isinstance(example["video_id"], bytes) else str(
      example["video_id"])
  for stream in streams:
    x = stream_features[stream]
    cas_out = None
    if stream in cas_nets:
      cas_out = cas_nets[stream](x, mask, training=False)
      cas_maps[stream] = cas_lib.localization_map(
          cas_out, mask, cas_nets[stream].maps).numpy()[0, :, class_index]
    seeds_file = run_dir.seeds_path(model_dir, stream)
    stored = (seeds_lib.load_seeds(seeds_file, channels) if os.path.isfile(seeds_file) else {})
    if video_id in stored:
      dense_seeds[stream] = seeds_lib.to_dense(stored[video_id], length, channels), "file"
    elif cas_out is not None:
      dense_seeds[stream] = (
          seeds_lib.initial_seeds(x, cas_out, mask, labels, cfg.cas).numpy()[0], "cas")
    else:
      raise ValueError(f"no seeds for video {video_id}: it is not in {seeds_file} and the run "
                       f"has no CAS network ({run_dir.model_path(model_dir, 'cas', stream)}) "
                       "to compute them")
  if (cfg.cas.joint_seeds and len(streams) > 1
      and all(source == "cas" for _, source in dense_seeds.values())):  # as training joined them
    joined = seeds_lib.join_dense(np.stack([dense for dense, _ in dense_seeds.values()]))
    dense_seeds = {stream: (joined, "cas") for stream in streams}
  for stream in streams:
    x = stream_features[stream]
    dense, source = dense_seeds[stream]
    seeds[stream] = {"fg": dense[:, class_index + 1] > 0.5, "bg": dense[:, 0] > 0.5,
                     "source": source}
    heat = nets[stream].training_heatmaps(nets[stream](x, mask, training=False), labels)
    regions = growing.grow(heat, dense[None], mask, labels,
                           tf.constant(cfg.model.growing_threshold_fg, tf.float32),
                           tf.constant(cfg.model.growing_threshold_bg, tf.float32)).numpy()[0]
    grown[stream] = {"fg": regions[:, class_index + 1] > 0.5, "bg": regions[:, 0] > 0.5}

  n = int(out["num_detections"])
  of_class = out["detection_classes"][:n] == class_index
  segments = np.reshape(example["segments"], (-1, 2))
  seg_labels = np.reshape(example["segment_labels"], (-1,))
  return {
      "video_id": video_id, "class_index": class_index, "class_name": class_names[class_index],
      "variant": variant, "delta": delta, "length": length,
      "gt": segments[seg_labels == class_index],
      "cas": cas_maps, "fg_seed_threshold": cfg.cas.fg_seed_threshold,
      "seeds": seeds, "grown": grown,
      "heatmap_fg": out["heatmaps"][:, class_index + 1], "heatmap_bg": out["heatmaps"][:, 0],
      "detections": out["detection_segments"][:n][of_class],
      "scores": out["detection_scores"][:n][of_class],
      "num_other_detections": int(n - of_class.sum()),
  }


# ---------------------------------------------------------------------------------------------
# Drawing.


def runs(flags_: np.ndarray) -> List[Tuple[int, int]]:
  """(start, length) of the maximal runs of True in a 1-D bool array."""
  padded = np.concatenate([[False], np.asarray(flags_, bool), [False]])
  edges = np.flatnonzero(padded[1:] != padded[:-1])
  return [(int(s), int(e - s)) for s, e in zip(edges[::2], edges[1::2])]


def _save(fig, path: str) -> None:
  """Saves a figure atomically (`run_dir.atomic_path`)."""
  try:
    with run_dir.atomic_path(path, suffix=".png") as tmp:
      fig.savefig(tmp, dpi=110, format="png")
  finally:
    plt.close(fig)


def _lanes(ax, rows: Sequence[Tuple[str, np.ndarray, str]], delta: float) -> None:
  """One horizontal lane per (label, bool [T], colour): its runs as bars."""
  for i, (label, mask, color) in enumerate(rows):
    bars = [(s * delta, n * delta) for s, n in runs(mask)]
    ax.broken_barh(bars, (len(rows) - 1 - i - 0.35, 0.7), facecolors=color)
  ax.set_yticks(range(len(rows)))
  ax.set_yticklabels([label for label, _, _ in reversed(rows)])
  ax.set_ylim(-0.6, len(rows) - 0.4)


def _shade_gt(ax, gt: np.ndarray, label: Optional[str] = None) -> None:
  for i, (s, e) in enumerate(gt):
    ax.axvspan(s, e, color="tab:green", alpha=0.18, lw=0, label=label if i == 0 else None)


def _legend(ax) -> None:
  ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)


def draw_video(maps: Dict[str, Any], path: str) -> None:
  """Draws `video_maps` as a Figure-3-like PNG at `path`."""
  delta, length = maps["delta"], maps["length"]
  edges = np.arange(length + 1) * delta
  streams = list(maps["seeds"])
  fig, axes = plt.subplots(6, 1, figsize=(13, 11), sharex=True,
                           gridspec_kw={"height_ratios": [0.6, 1.3, 1.2, 1.2, 1.5, 1.5]})
  fig.suptitle(f"{maps['video_id']}: class {maps['class_name']!r} ({maps['variant']})",
               fontsize=13)

  ax = axes[0]
  _lanes(ax, [("ground truth", np.zeros(length, bool), "tab:green")], delta)
  ax.broken_barh([(s, e - s) for s, e in maps["gt"]], (-0.35, 0.7), facecolors="tab:green")
  count = len(maps["gt"])
  ax.set_title(f"1. ground truth ({count} segment{'s' if count != 1 else ''})", loc="left",
               fontsize=10)

  ax = axes[1]
  _shade_gt(ax, maps["gt"], "ground truth")
  for stream, values in maps["cas"].items():
    ax.stairs(values, edges, color=STREAM_COLORS[stream], lw=1.3, label=f"CAS {stream}")
  ax.axhline(maps["fg_seed_threshold"], color="k", ls="--", lw=1,
             label=f"seed threshold {maps['fg_seed_threshold']:g}")
  ax.set_ylim(-0.05, 1.05)
  ax.set_title("2. CAS localisation map (normalised)" if maps["cas"] else
               "2. CAS localisation map: no CAS network in this run", loc="left", fontsize=10)
  _legend(ax)

  for ax, key, title in ((axes[2], "seeds", "3. initial seeds"),
                         (axes[3], "grown", "4. grown regions (eq. 1)")):
    rows = []
    for stream in streams:
      rows.append((f"{stream} fg", maps[key][stream]["fg"], "tab:orange"))
      rows.append((f"{stream} bg", maps[key][stream]["bg"], "tab:gray"))
    _shade_gt(ax, maps["gt"])
    _lanes(ax, rows, delta)
    if key == "seeds":
      sources = {s: maps["seeds"][s]["source"] for s in streams}
      title += " (" + ", ".join(
          f"{s}: {'seeds file' if v == 'file' else 'recomputed from CAS'}"
          for s, v in sources.items()) + ")"
    ax.set_title(title + "; orange = class, gray = background", loc="left", fontsize=10)

  _shade_gt(axes[4], maps["gt"], "ground truth")
  _heatmap_panel(axes[4], maps, edges, "5. fused heatmap (eq. 6)")

  ax = axes[5]
  _shade_gt(ax, maps["gt"], "ground truth")
  _detections_panel(ax, maps, "6. detections of the class")
  _legend(ax)
  ax.set_xlim(0, length * delta)
  ax.set_xlabel("time (seconds)")
  fig.tight_layout()
  _save(fig, path)


# ---------------------------------------------------------------------------------------------
# A video file (RGB-only runs): frames, heatmap and detections on the video's timeline.


def video_file_maps(video_path: str, rgb: np.ndarray, model_dir: str, variant: str = "assg",
                    class_index: Optional[int] = None, num_thumbnails: int = 8
                    ) -> Dict[str, Any]:
  """What `draw_video_file` draws for a video file and its RGB features [T, rgb_dim]."""
  model = inference.model_from_run(model_dir, variant)
  (_, joint), = inference.with_zero_flow([("v", rgb)], model.flow_dim)
  out = model.forward(joint[None], np.array([len(joint)], np.int32))
  out = {k: np.asarray(v)[0] for k, v in out.items()}
  if class_index is None:
    class_index = int(np.argmax(out["video_scores"]))
  heatmap = out["heatmaps"]
  n = int(out["num_detections"])
  keep = out["detection_classes"][:n] == class_index
  delta, length = model.seconds_per_segment, len(rgb)
  times = (np.arange(num_thumbnails) + 0.5) * length * delta / num_thumbnails
  wanted = {int(t * video_lib.FPS): t for t in times}
  thumbnails = []
  for i, frame in enumerate(video_lib.read_frames(video_path)):
    if i in wanted:
      thumbnails.append((wanted[i], frame[::4, ::4]))
    if len(thumbnails) == len(wanted):
      break
  return {"video_id": os.path.splitext(os.path.basename(video_path))[0],
          "class_name": model.class_names[class_index],
          "class_score": float(out["video_scores"][class_index]), "variant": variant,
          "delta": delta, "length": length, "thumbnails": thumbnails,
          "heatmap_fg": heatmap[:length, class_index + 1], "heatmap_bg": heatmap[:length, 0],
          "detections": out["detection_segments"][:n][keep],
          "scores": out["detection_scores"][:n][keep], "num_other_detections": int(n - keep.sum())}


def _heatmap_panel(ax, maps: Dict[str, Any], edges: np.ndarray, title: str) -> None:
  ax.stairs(maps["heatmap_fg"], edges, color="tab:purple", lw=1.5, label="foreground (class)")
  ax.stairs(maps["heatmap_bg"], edges, color="tab:gray", lw=1.2, label="background")
  ax.set_ylim(-0.05, 1.05)
  ax.set_title(title, loc="left", fontsize=10)
  _legend(ax)


def _detections_panel(ax, maps: Dict[str, Any], title: str) -> None:
  for i, ((s, e), score) in enumerate(zip(maps["detections"], maps["scores"])):
    ax.plot([s, e], [score, score], color="tab:purple", lw=2.5, solid_capstyle="butt",
            label="detection" if i == 0 else None)
  ax.set_ylim(0, 1.05)
  ax.set_ylabel("score")
  ax.set_title(f"{title} ({len(maps['scores'])}; {maps['num_other_detections']} of other "
               "classes not shown)", loc="left", fontsize=10)


def draw_video_file(maps: Dict[str, Any], path: str) -> None:
  """Draws `video_file_maps` as a PNG at `path`: frames, fused heatmap, detections."""
  delta, length = maps["delta"], maps["length"]
  edges = np.arange(length + 1) * delta
  duration = length * delta
  fig, axes = plt.subplots(3, 1, figsize=(13, 6.5), sharex=True,
                           gridspec_kw={"height_ratios": [1.2, 1.5, 1.2]})
  fig.suptitle(f"{maps['video_id']}: class {maps['class_name']!r} (video score "
               f"{maps['class_score']:.2f}, {maps['variant']})", fontsize=13)
  ax = axes[0]
  width = duration / max(len(maps["thumbnails"]), 1)
  for t, image in maps["thumbnails"]:
    ax.imshow(image, extent=(t - 0.48 * width, t + 0.48 * width, 0, 1), aspect="auto")
  ax.set_ylim(0, 1)
  ax.set_yticks([])
  ax.set_title("1. frames (the network's 224 x 224 centre crop)", loc="left", fontsize=10)
  _heatmap_panel(axes[1], maps, edges, "2. fused heatmap (eq. 6)")
  _detections_panel(axes[2], maps, "3. detections of the class")
  if len(maps["scores"]):
    _legend(axes[2])
  axes[2].set_xlim(0, duration)
  axes[2].set_xlabel("time (seconds)")
  fig.tight_layout()
  _save(fig, path)


def draw_file(model_dir: str, video: str, output: str, features: Optional[str] = None,
              class_name: Optional[str] = None, variant: str = "assg",
              i3d_checkpoint: Optional[str] = None,
              extractor: Optional[extraction.Extractor] = None) -> Dict[str, Any]:
  """`visualize --video` without its flags: draws the video file `video` at `output` for the
  RGB-only run `model_dir`; returns its `video_file_maps`. Its features are `features` (a .npy
  of I3D RGB features [T, rgb_dim]), else extracted and cached beside `output`."""
  run = run_dir.read_run(model_dir)
  if not os.path.isfile(video):
    raise FileNotFoundError(f"--video={video} is not a video file")
  extraction.check_rgb_run(run, model_dir)
  if features is None:
    root = extraction.cache_root(output)
    extraction.features_for_run(video, model_dir, root, i3d_checkpoint, extractor)
    (video_id, _), = video_lib.list_videos(video)
    features = extraction.feature_path(root, "test", video_id)
  rgb = features_lib.check_features(features_lib.read_npy(features), features, run.info.rgb_dim)
  maps = video_file_maps(video, rgb, model_dir, variant,
                         _class_index(class_name, run.info.class_names))
  draw_video_file(maps, output)
  return maps


# ---------------------------------------------------------------------------------------------
# Training curves.


def read_curves(logs_dir: str) -> Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]]:
  """{stage: {tag: (steps, values)}} from the TensorBoard event files of `logs_dir/<stage>/`.

  A step logged twice (a resumed stage) keeps its latest value.
  """
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  stages = sorted(d for d in glob.glob(os.path.join(logs_dir, "*")) if os.path.isdir(d))
  if not stages:
    raise ValueError(f"{logs_dir}: no stage folders with TensorBoard logs")
  curves = {}
  for folder in stages:
    acc = event_accumulator.EventAccumulator(
        folder, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.SCALARS: 0})
    acc.Reload()
    tags = {}
    for tag in acc.Tags()["tensors"]:
      events = sorted(acc.Tensors(tag), key=lambda e: e.wall_time)
      latest = {e.step: float(tf.make_ndarray(e.tensor_proto)) for e in events}
      steps = np.array(sorted(latest))
      tags[tag] = (steps, np.array([latest[s] for s in steps]))
    for tag in acc.Tags()["scalars"]:  # TF1-style summaries, if any
      events = sorted(acc.Scalars(tag), key=lambda e: e.wall_time)
      latest = {e.step: e.value for e in events}
      steps = np.array(sorted(latest))
      tags[tag] = (steps, np.array([latest[s] for s in steps]))
    if tags:
      curves[os.path.basename(folder)] = tags
  if not curves:
    raise ValueError(f"{logs_dir}: the stage folders hold no logged values")
  return curves


def draw_curves(curves: Dict[str, Dict[str, Tuple[np.ndarray, np.ndarray]]], path: str) -> None:
  """One panel per logged quantity, one line per stage."""
  tags = sorted({tag for stage in curves.values() for tag in stage},
                key=lambda t: (t == "validation_mAP", t))
  cols = min(3, len(tags))
  rows = -(-len(tags) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), squeeze=False)
  styles = {stage: ("-" if stage.endswith("rgb") else "--") for stage in curves}
  palette = plt.get_cmap("tab10")
  kinds = sorted({stage.rsplit("_", 1)[0] for stage in curves})
  for ax, tag in zip(axes.flat, tags):
    for stage, values in sorted(curves.items()):
      if tag in values:
        steps, ys = values[tag]
        color = palette(kinds.index(stage.rsplit("_", 1)[0]) % 10)
        ax.plot(steps, ys, linestyle=styles[stage], color=color,
                marker="." if len(steps) < 30 else None, label=stage)
    ax.set_title(tag, fontsize=10)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, handlelength=3.5)
  for ax in list(axes.flat)[len(tags):]:
    ax.axis("off")
  fig.suptitle("training curves (solid: rgb, dashed: flow)", fontsize=12)
  fig.tight_layout()
  _save(fig, path)


# ---------------------------------------------------------------------------------------------
# A run's figures.


def _class_index(class_name: Optional[str], run_classes: Sequence[str]) -> Optional[int]:
  """The index of `class_name` among the run's classes (None for None); ValueError listing
  them when it is not one."""
  if class_name is None:
    return None
  if class_name not in run_classes:
    raise ValueError(f"class_name={class_name!r} is not a class of the run; expected one of "
                     f"{list(run_classes)}")
  return list(run_classes).index(class_name)


def draw(model_dir: str, output: Optional[str] = None, video_id: Optional[str] = None,
         split: str = "test", class_name: Optional[str] = None, variant: str = "assg",
         data_dir: Optional[str] = None, manual_dir: Optional[str] = None,
         curves: Optional[str] = None) -> Optional[Dict[str, Any]]:
  """The command without its flags; returns the video's `video_maps` when it draws one."""
  maps = None
  if output:
    if not video_id:
      raise ValueError("drawing a video (output) needs its video_id")
    run = run_dir.read_run(model_dir)
    cfg = run.config
    data_cfg = dataclasses.replace(
        cfg.data, dataset=run.dataset,
        data_dir=data_dir or cfg.data.data_dir, manual_dir=manual_dir or cfg.data.manual_dir)
    examples, info = input_pipeline.load_split(data_cfg, split)
    run_classes = list(run.info.class_names)
    if list(info.class_names) != run_classes:
      raise ValueError(f"the dataset {data_cfg.dataset} has classes {list(info.class_names)}, "
                       f"the run {model_dir} {run_classes}")
    maps = video_maps(find_video(examples, video_id), run, model_dir, variant,
                      _class_index(class_name, run_classes))
    draw_video(maps, output)
  if curves:
    draw_curves(read_curves(run_dir.logs_dir(model_dir)), curves)
  return maps

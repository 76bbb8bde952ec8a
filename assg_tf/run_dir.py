"""A run directory (`--model_dir`): every file a training run writes, and reading them back.

    OUT/run.json                     what predict / export / visualize need to rebuild the run
    OUT/models/<variant>_<stream>.keras   the trained networks (Keras 3 files)
    OUT/seeds/<stream>.npz           the initial seeds of every training video (`seeds.py`)
    OUT/checkpoints/<stage>/         tf.train checkpoints of each stage (`training.run_stage`)
    OUT/logs/<stage>/                TensorBoard logs of each stage
    OUT/selected.flags               the post-processing chosen on validation (`selection.py`)
    OUT/metrics.json                 test metrics of every variant
    OUT/predictions/<variant>.json   test detections (ActivityNet results format)
    OUT/ground_truth.json            the test split's ground truth, for `assg_tf.evaluate`
    OUT/export/<version>/            SavedModels for TF Serving (`serving.py`)

A stage is `<variant>_<stream>` (e.g. `cas_rgb`, `assg_flow`). This module is the only one that
spells these paths. It also owns writing files atomically (a temporary file in the same folder,
then `os.replace`, so a reader never sees half a file; docs/DESIGN.md "Bad input"), which every
writer of the package uses, and the version folders of an export base.

It imports neither Keras nor TensorFlow at import time (`assg_tf.evaluate` writes through it and
stays light); `load_nets` imports Keras when called.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from assg_tf import config as config_lib

PathLike = Union[str, os.PathLike]
RUN_JSON = "run.json"


# ---------------------------------------------------------------------------------------------
# Paths.


def run_json_path(model_dir: str) -> str:
  return os.path.join(model_dir, RUN_JSON)


def stage_name(variant: str, stream: str) -> str:
  return f"{variant}_{stream}"


def model_path(model_dir: str, variant: str, stream: str) -> str:
  return os.path.join(model_dir, "models", f"{stage_name(variant, stream)}.keras")


def seeds_path(model_dir: str, stream: str) -> str:
  return os.path.join(model_dir, "seeds", f"{stream}.npz")


def checkpoints_dir(model_dir: str, stage: str) -> str:
  return os.path.join(model_dir, "checkpoints", stage)


def logs_dir(model_dir: str, stage: Optional[str] = None) -> str:
  """`OUT/logs`, or the TensorBoard folder of one stage."""
  logs = os.path.join(model_dir, "logs")
  return logs if stage is None else os.path.join(logs, stage)


def selected_flags_path(model_dir: str) -> str:
  return os.path.join(model_dir, "selected.flags")


def metrics_path(model_dir: str) -> str:
  return os.path.join(model_dir, "metrics.json")


def predictions_path(model_dir: str, variant: str) -> str:
  return os.path.join(model_dir, "predictions", f"{variant}.json")


def ground_truth_path(model_dir: str) -> str:
  return os.path.join(model_dir, "ground_truth.json")


def export_dir(model_dir: str) -> str:
  return os.path.join(model_dir, "export")


# ---------------------------------------------------------------------------------------------
# Writing files atomically.


def umask() -> int:
  """The process umask (read from /proc on Linux, where reading it changes nothing)."""
  try:
    with open("/proc/self/status", encoding="ascii") as f:
      for line in f:
        if line.startswith("Umask:"):
          return int(line.split()[1], 8)
  except (OSError, ValueError):
    pass
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


@contextlib.contextmanager
def atomic_path(path: PathLike, suffix: str = ".tmp") -> Iterator[str]:
  """Yields a temporary path in `path`'s folder (created if missing); when the block ends
  normally the temporary file replaces `path`, otherwise it is removed.

  The temporary file exists (created 0600 by mkstemp) and is given the mode `open()` would have
  given a new file, 0666 & ~umask, so the output is as readable as any other. `suffix` keeps
  the extension writers that look at it want (".png", ".keras", ".npz").
  """
  path = os.fspath(path)
  folder = os.path.dirname(os.path.abspath(path))
  os.makedirs(folder, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                             suffix=suffix)
  try:
    os.fchmod(fd, 0o666 & ~umask())
    os.close(fd)
    yield tmp
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


def write_text(path: PathLike, text: str) -> None:
  """Writes `text` atomically (`atomic_path`)."""
  with atomic_path(path) as tmp:
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(text)


def write_json(path: PathLike, obj: Any) -> None:
  """Writes `obj` as JSON atomically (`atomic_path`); NaN and inf are refused."""
  write_text(path, json.dumps(obj, allow_nan=False))


def write_npy(path: PathLike, array) -> None:
  """Writes a numpy array as a .npy file atomically (`atomic_path`)."""
  with atomic_path(path, suffix=".npy") as tmp:
    np.save(tmp, array)


def save_keras(net, path: str) -> None:
  """Saves a network as a .keras file atomically."""
  with atomic_path(path, suffix=".keras") as tmp:
    os.remove(tmp)  # Keras writes the file itself
    net.save(tmp)


# ---------------------------------------------------------------------------------------------
# run.json.


@dataclasses.dataclass(frozen=True)
class Run:
  """A trained run as run.json describes it."""
  config: config_lib.Config  # with the post-processing chosen on validation
  info: config_lib.DatasetInfo  # classes, stream widths and seconds_per_segment
  dataset: str
  variants: Tuple[str, ...]
  streams: Tuple[str, ...]


def write_run(cfg: config_lib.Config, info: config_lib.DatasetInfo,
              predict_cfg: config_lib.PredictConfig) -> None:
  """OUT/run.json: what predict/export/visualize need to rebuild the run without the data,
  with the post-processing they should use."""
  run_cfg = dataclasses.replace(cfg, predict=predict_cfg)
  write_json(run_json_path(cfg.model_dir), {
      "dataset": cfg.data.dataset, "class_names": list(info.class_names),
      "rgb_dim": info.rgb_dim, "flow_dim": info.flow_dim,
      "seconds_per_segment": info.seconds_per_segment, "variants": list(cfg.variants),
      "streams": list(cfg.streams), "config": dataclasses.asdict(run_cfg)})


_RUN_KEYS = ("class_names", "rgb_dim", "flow_dim", "seconds_per_segment", "streams", "config")


def read_run(model_dir: str) -> Run:
  """Reads `model_dir/run.json` (written by assg_tf.train) and checks the keys we need."""
  path = run_json_path(model_dir)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path} does not exist; expected the run.json that "
                            f"`python -m assg_tf.train --model_dir={model_dir}` writes")
  try:
    with open(path, encoding="utf-8") as f:
      raw = json.load(f)
  except json.JSONDecodeError as e:
    raise ValueError(f"{path} is not valid JSON: {e}") from e
  missing = [k for k in _RUN_KEYS if k not in raw]
  if missing:
    raise ValueError(f"{path} lacks the keys {missing}; expected {list(_RUN_KEYS)}")
  cfg = config_lib.from_dict(raw["config"])
  info = config_lib.DatasetInfo(
      class_names=tuple(raw["class_names"]), rgb_dim=int(raw["rgb_dim"]),
      flow_dim=int(raw["flow_dim"]), seconds_per_segment=float(raw["seconds_per_segment"]))
  return Run(config=cfg, info=info, dataset=raw.get("dataset", cfg.data.dataset),
             variants=tuple(raw.get("variants", ())), streams=tuple(raw["streams"]))


# ---------------------------------------------------------------------------------------------
# The trained networks.


def load_nets(model_dir: str, variant: str = "assg",
              streams: Optional[Sequence[str]] = None) -> Dict[str, Any]:
  """Loads `models/<variant>_<stream>.keras` of each stream (default: the run's): {stream: net}."""
  import keras  # pylint: disable=g-import-not-at-top  (this module stays light to import)
  if variant not in config_lib.VARIANTS:
    raise ValueError(f"variant={variant!r}: expected one of {config_lib.VARIANTS}")
  if streams is None:
    streams = read_run(model_dir).streams
  nets = {}
  for stream in streams:
    path = model_path(model_dir, variant, stream)
    if not os.path.isfile(path):
      raise FileNotFoundError(
          f"{path} does not exist; expected the .keras file of the {variant} {stream} network "
          f"(was {variant!r} among the run's --variants?)")
    nets[stream] = keras.saving.load_model(path)
  return nets


def load_score_nets(model_dir: str, cfg: config_lib.Config,
                    streams: Sequence[str]) -> Optional[Dict[str, Any]]:
  """The CAS networks when `cfg.predict.video_scores` is "cas" (they give the class scores),
  else None."""
  if cfg.predict.video_scores != "cas":
    return None
  return load_nets(model_dir, "cas", streams)


def has_nets(model_dir: str, variant: str, streams: Sequence[str]) -> bool:
  """Whether the run saved the `variant` networks of every stream."""
  return all(os.path.isfile(model_path(model_dir, variant, s)) for s in streams)


# ---------------------------------------------------------------------------------------------
# Version folders of an export base (TF Serving's convention: EXPORT/<n>/).


def versions(export_base: str, saved_models_only: bool = False) -> List[int]:
  """The integer folder names under `export_base` (only those holding a saved_model.pb with
  `saved_models_only`); [] when the folder does not exist."""
  if not os.path.isdir(export_base):
    return []
  return sorted(int(name) for name in os.listdir(export_base) if re.fullmatch(r"\d+", name)
                and (not saved_models_only or
                     os.path.isfile(os.path.join(export_base, name, "saved_model.pb"))))

"""Post-processing chosen on held-out training videos, never on the test split.

The paper fixes its prediction settings by hand (3.5, 4.2: lambda = 0.3). How the two streams
should be weighed, and how proposals should be scored, depends on the features and the data;
a user's data is not ours. So a run picks them itself, on the validation split (the training
videos held out from training, `DataConfig.validation_split`), by the average mAP over the
run's tIoU thresholds, from the grid below:

* `rgb_weight` (lambda of eq. 6): how much the rgb stream counts against flow;
* `proposal_score`: eq. 6's mean, or the outer-inner contrast (proposals.py);
* `video_score_weight`: how much the video-level class score adds to a proposal's (BaS-Net);
* `smoothing`: over how many segments the fused heatmap is averaged before the proposals
  (proposals.smooth). The right width follows the length of the actions, which differs by
  dataset by an order of magnitude (THUMOS'14: 4 s on average; ActivityNet: 50 s), so the grid
  doubles from 1 (none) to 65 segments (42 s at 0.64 s a segment).

Ties (equal validation mAP) keep the earlier grid point, and the grid starts from the run's own
settings, so an uninformative validation split changes nothing. The choice is written as a
flagfile (`write_flagfile`) that later commands (`--flagfile=OUT/selected.flags`) can reuse.
"""
from __future__ import annotations

import dataclasses
import itertools
from typing import Callable, Dict, List, Sequence, Tuple

from assg_tf import config as config_lib
from assg_tf import run_dir

# The grid swept by default: every combination, the run's own settings first.
GRID: Dict[str, Tuple] = {
    # The paper's lambda first; flow is the stronger stream of I3D features, so the grid leans
    # towards it.
    "rgb_weight": (0.3, 0.1, 0.2, 0.5, 0.7),
    "proposal_score": ("contrast", "mean"),
    "video_score_weight": (0.0, 0.5),
    "smoothing": (1, 3, 5, 9, 17, 33, 65),
}


def candidates(base: config_lib.PredictConfig,
               grid: Dict[str, Sequence] = None) -> List[config_lib.PredictConfig]:
  """Every combination of the grid's values, as PredictConfigs; `base` itself first."""
  grid = GRID if grid is None else grid
  unknown = set(grid) - {f.name for f in dataclasses.fields(base)}
  if unknown:
    raise ValueError(f"selection grid names {sorted(unknown)}, not PredictConfig fields")
  names = sorted(grid)
  out = [base]
  for values in itertools.product(*(grid[n] for n in names)):
    cfg = dataclasses.replace(base, **dict(zip(names, values)))
    if cfg not in out:
      out.append(cfg)
  return out


def select(score: Callable[[config_lib.PredictConfig], float],
           base: config_lib.PredictConfig, grid: Dict[str, Sequence] = None
           ) -> Tuple[config_lib.PredictConfig, List[Tuple[Dict, float]]]:
  """The candidate with the highest `score` (validation mAP), and every (settings, score)."""
  table, best, best_score = [], None, None
  for cfg in candidates(base, grid):
    value = float(score(cfg))
    table.append(({n: getattr(cfg, n) for n in sorted(GRID if grid is None else grid)}, value))
    if best_score is None or value > best_score:
      best, best_score = cfg, value
  return best, table


def write_flagfile(path: str, chosen: config_lib.PredictConfig,
                   table: List[Tuple[Dict, float]], grid: Dict[str, Sequence] = None) -> None:
  """Writes the chosen values as flags (flag names of assg_tf.flags), with the sweep as
  comments, atomically."""
  from assg_tf import flags as flags_lib  # pylint: disable=g-import-not-at-top
  names = sorted(GRID if grid is None else grid)
  flag_of = {name: flag for flag, (section, name, _) in flags_lib.FLAG_TABLE.items()
             if section == "predict"}
  lines = ["# Post-processing chosen on the validation split (held-out training videos) by",
           "# assg_tf.selection: average mAP of every candidate, best first.",
           *(f"#   {100 * value:6.2f}  " + " ".join(f"{k}={v}" for k, v in settings.items())
             for settings, value in sorted(table, key=lambda r: -r[1]))]
  for name in names:
    lines.append(f"--{flag_of[name]}={getattr(chosen, name)}")
  run_dir.write_text(path, "\n".join(lines) + "\n")



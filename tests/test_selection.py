"""Post-processing chosen on the validation split (assg_tf/selection.py)."""
import dataclasses

import pytest

from assg_tf import config as config_lib
from assg_tf import flags as flags_lib
from assg_tf import selection


def test_candidates_cover_the_grid_once_with_the_base_first():
  base = config_lib.PredictConfig(rgb_weight=0.3, proposal_score="contrast")
  grid = {"rgb_weight": (0.3, 0.7), "proposal_score": ("contrast", "mean")}
  got = selection.candidates(base, grid)
  assert got[0] == base
  assert len(got) == 4 and len(set(got)) == 4
  assert {(c.rgb_weight, c.proposal_score) for c in got} == {
      (0.3, "contrast"), (0.3, "mean"), (0.7, "contrast"), (0.7, "mean")}
  with pytest.raises(ValueError, match="not PredictConfig fields"):
    selection.candidates(base, {"lambda": (0.3,)})


def test_select_takes_the_best_validation_score_and_keeps_the_base_on_ties():
  base = config_lib.PredictConfig(rgb_weight=0.3)
  grid = {"rgb_weight": (0.3, 0.5, 0.7)}
  chosen, table = selection.select(lambda c: {0.3: 0.1, 0.5: 0.4, 0.7: 0.2}[c.rgb_weight],
                                    base, grid)
  assert chosen.rgb_weight == 0.5
  assert sorted(v for _, v in table) == [0.1, 0.2, 0.4]
  chosen, _ = selection.select(lambda c: 0.25, base, grid)  # uninformative: keep the base
  assert chosen == base


def test_written_flagfile_parses_back_to_the_chosen_values(tmp_path):
  chosen = config_lib.PredictConfig(rgb_weight=0.7, proposal_score="mean",
                                    video_score_weight=0.5)
  table = [({"rgb_weight": 0.7}, 0.4), ({"rgb_weight": 0.3}, 0.2)]
  path = str(tmp_path / "selected.flags")
  selection.write_flagfile(path, chosen, table)
  from absl import flags
  values = flags.FlagValues()
  flags_lib.define_flags(values)
  values([""] + [f"--flagfile={path}"])
  cfg = flags_lib.config_from_flags(values)
  for name in selection.GRID:
    assert getattr(cfg.predict, name) == getattr(chosen, name)
  assert "40.00" in open(path).read()

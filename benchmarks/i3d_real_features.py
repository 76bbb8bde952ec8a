r"""Our I3D features of a real video against the ones its authors published (issue 12).

    python benchmarks/i3d_real_features.py --video=PATH/women_long_jump.mp4 \
        [--i3d_checkpoint=PATH] [--published=assg_tf/data/real_i3d/women_long_jump_rgb.npy]

The video and its published RGB features come from v-iashin/BMT (`sample/`, MIT;
assg_tf/data/SOURCES.md): 14 x 1024, DeepMind's Kinetics-400 weights converted to PyTorch,
25 fps, stacks of 64 frames with step 64, short side 256, a 224 centre crop, the last stack
cycled from the start of the leftover frames. We extract with the same settings
(`--stack_size=64 --step_size=64 --last_snippet=wrap`) and print, per snippet, the cosine
similarity to the published row, then the mean and the minimum; the goal is a mean >= 0.95.

What causes a difference: it also prints
- the Kinetics-400 top-5 classes through the checkpoint's own classifier, of our features and
  of the published ones (a network that works puts "long jump" first on our features; features
  of another network's weights mean nothing to this classifier);
- the Pearson r between the snippet-by-snippet cosine matrices of ours and of the published
  features, beside the same r with the published snippets shuffled: a high r says both
  pipelines see the same content at the same times even where their feature spaces differ;
- the best match of each published row among our rows (a time shift shows as an offset);
- how far our own preprocessing choices move our features: bilinear instead of bicubic
  resizing, and frames JPEG-compressed first (the published pipeline stored its frames as JPEG).
`benchmarks/i3d_checkpoint_identity.py` tells which of DeepMind's checkpoints the weights are.

The video is not in the repository (`--video` is required); the weights are found as
`assg_tf.extract_features` finds them.
"""
from __future__ import annotations

import io
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from absl import app  # pylint: disable=g-import-not-at-top,wrong-import-position
from absl import flags  # pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np  # pylint: disable=g-import-not-at-top,wrong-import-position

from assg_tf import extraction  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import i3d  # pylint: disable=g-import-not-at-top,wrong-import-position
from assg_tf import video as video_lib  # pylint: disable=g-import-not-at-top,wrong-import-position

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_string("video", None, "women_long_jump.mp4 (v-iashin/BMT sample/).")
flags.DEFINE_string("published", os.path.join(REPO, "assg_tf", "data", "real_i3d",
                                              "women_long_jump_rgb.npy"),
                    "The published features [14, 1024].")
flags.DEFINE_string("i3d_checkpoint", None, "The Kinetics-400 checkpoint (default: searched).")
flags.DEFINE_integer("batch_size", 2, "Snippets per forward pass.")
flags.DEFINE_bool("variants", True, "Also run the diagnostic variants (bilinear, JPEG).")
FLAGS = flags.FLAGS
STACK = STEP = 64


def _unit_rows(x: np.ndarray) -> np.ndarray:
  return x / np.linalg.norm(x, axis=1, keepdims=True)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Cosine of each row of `a` with the same row of `b`."""
  return np.sum(_unit_rows(a) * _unit_rows(b), axis=1)


def features_of(frames, extractor):
  return extractor.features(video_lib.snippets(frames, STACK, STEP, "wrap"))


def jpeg_frames(path, interpolation):
  """The frames as the published pipeline stored them: resized, then JPEG at -q:v 2 (PIL
  quality ~ 95 is close to FFmpeg's q 2), decoded, then centre-cropped."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  av = video_lib.import_av()
  with av.open(path) as container:
    stream = container.streams.video[0]
    frames = []
    for frame in container.decode(stream):
      h, w = video_lib.resized_size(frame.height, frame.width)
      rgb = frame.reformat(width=w, height=h, format="rgb24",
                           interpolation=interpolation).to_ndarray()
      buf = io.BytesIO()
      Image.fromarray(rgb).save(buf, format="JPEG", quality=95)
      frames.append((float(frame.time), video_lib.center_crop(
          np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))))
  for index, repeat in video_lib.resample([t for t, _ in frames]):
    for _ in range(repeat):
      yield frames[index][1]


def report(name, ours, published):
  n = min(len(ours), len(published))
  cos = cosine_rows(ours[:n], published[:n])
  print(f"{name}: {len(ours)} snippets (published {len(published)}); cosine per snippet "
        f"{np.array2string(cos, precision=3, max_line_width=200)}")
  print(f"{name}: mean {cos.mean():.4f}, min {cos.min():.4f} (snippet {int(cos.argmin())})")
  return cos


def cosine_rows_all(a, b):
  """Cosine of every row of `a` with every row of `b`."""
  return _unit_rows(a) @ _unit_rows(b).T


def structure_correlation(a, b, rng, permutations=1000):
  """Pearson r between the snippet-by-snippet cosine matrices of two feature sets of the same
  snippets (upper triangles), and the same r with b's snippets in random order (mean, 95th
  percentile): high when both extractors see the same content at the same times, whatever
  their feature spaces."""
  iu = np.triu_indices(len(a), 1)
  sa = cosine_rows_all(a, a)[iu]
  r = np.corrcoef(sa, cosine_rows_all(b, b)[iu])[0, 1]
  null = []
  for _ in range(permutations):
    p = rng.permutation(len(b))
    null.append(np.corrcoef(sa, cosine_rows_all(b[p], b[p])[iu])[0, 1])
  return r, float(np.mean(null)), float(np.percentile(null, 95))


def top5(features, kernel, bias):
  return np.argsort(-(features.mean(axis=0) @ kernel + bias))[:5].tolist()


def main(argv):
  del argv
  if not FLAGS.video:
    raise app.UsageError("--video=PATH/women_long_jump.mp4 is required (v-iashin/BMT sample/)")
  published = np.load(FLAGS.published).astype(np.float32)
  checkpoint = i3d.find_checkpoint(FLAGS.i3d_checkpoint)
  print(f"weights: {checkpoint}")
  model = i3d.load_kinetics_weights(i3d.build_i3d(), checkpoint)
  extractor = extraction.Extractor(model, FLAGS.batch_size)
  start = time.perf_counter()
  ours = extraction.extract_video(FLAGS.video, extractor, STACK, STEP, "wrap")
  print(f"extracted in {time.perf_counter() - start:.1f} s")
  cos = report("ours vs published", ours, published)
  n = min(len(ours), len(published))

  kernel, bias = _logits(checkpoint)
  per_snippet = np.argmax(ours @ kernel + bias, axis=1)
  print(f"Kinetics-400 top-5 (0-based; 182 long jump, 367 triple jump, 253 pole vault, 160 "
        f"hurdling, 151 high jump) through the checkpoint's own classifier: ours "
        f"{top5(ours, kernel, bias)}, per snippet {per_snippet.tolist()}; published features "
        f"{top5(published, kernel, bias)}")
  r, null_mean, null_95 = structure_correlation(ours[:n], published[:n],
                                                np.random.default_rng(0))
  print(f"structure: r = {r:.3f} between the snippet-by-snippet cosine matrices of ours and "
        f"the published features (snippets shuffled: mean {null_mean:.3f}, 95th percentile "
        f"{null_95:.3f})")
  sims = cosine_rows_all(published, ours)
  print("best-matching row of ours for each published row: "
        f"{np.argmax(sims, axis=1).tolist()} (identity = no time shift)")
  if FLAGS.variants:
    print("how far our own preprocessing choices move our features (cosine to ours):")
    for name, frames in (
        ("bilinear resize", video_lib.read_frames(FLAGS.video, interpolation="BILINEAR")),
        ("bicubic resize + JPEG q95 (the published frames were JPEG files)",
         jpeg_frames(FLAGS.video, "BICUBIC"))):
      variant = features_of(frames, extractor)
      c = cosine_rows(variant[:len(ours)], ours[:len(variant)])
      print(f"  {name}: mean {c.mean():.4f}, min {c.min():.4f}; vs published mean "
            f"{cosine_rows(variant[:n], published[:n]).mean():.4f}")
  print(f"RESULT cosine to the published features: mean {cos.mean():.4f}, min {cos.min():.4f}")


def _logits(checkpoint):
  """The checkpoint's Kinetics-400 classifier (kernel [1024, 400], bias [400])."""
  params = i3d.read_checkpoint(checkpoint)["params"]
  conv = i3d._lookup(params, "Logits/Conv3d_0c_1x1/Conv_0", checkpoint)  # pylint: disable=protected-access
  return conv["kernel"].reshape(-1, conv["kernel"].shape[-1]), conv["bias"]


if __name__ == "__main__":
  app.run(main)

"""Seeded sequence growing: the growing criterion of eq. 1 iterated to its fixed point.

Paper section 3.2.3, eq. 1 and Algorithm 1 lines 4-12. A segment t joins the region of class c
(c = 0 is the background) when it is next to the region and

    H[c, t] >= theta_g^c   and   c = argmax_{c'} H[c', t],

the argmax taken over {background} ∪ the video's labels (docs/DESIGN.md "Method"). Growing repeats
until nothing
changes, so a run of qualifying segments that touches a seed is taken whole, and a run that does
not touch one is not taken at all. Every class grows separately from its own seeds (paper 3.2.3:
"we generate separated seeds for each action class ... and expand the seeded regions
respectively"), so a segment can be in the regions of two classes only when it is a seed of one
of them (seeds are never removed).

The fixed point is computed in closed form rather than by iterating: with A = seeds ∪ qualifying
segments, the grown region of a class is the union of the maximal runs of A that contain a seed.
Runs are numbered with a cumulative sum of run starts, and "contains a seed" is a segment max
over run numbers: no loop over time, classes or videos, one trace for every shape.

Growing gives labels, not a differentiable function: its output carries no gradient.
"""
from __future__ import annotations

import tensorflow as tf


def label_softmax(heatmap_logits, labels):
  """H renormalised over the channels a video may be labelled with: softmax of the heatmap
  logits [B, T, C+1] over the background and the video's labels [B, C], 0 on the others.

  Eq. 1 thresholds H[c, t] >= theta_g with the argmax taken over these channels (docs/DESIGN.md
  "Method"); the paper grows each class separately from its own seeds (3.2.3), so a class the
  video does not contain should not take probability mass from it. With the softmax over all C+1 channels, a
  non-core action snippet of a 20-class model rarely reaches 0.99 (docs/RESULTS.md).
  """
  allowed = tf.concat([tf.ones_like(labels[:, :1]), labels], axis=1) > 0.5  # [B, C+1]
  masked = tf.where(allowed[:, None, :], heatmap_logits, -1e9)
  return tf.nn.softmax(masked, axis=-1) * tf.cast(allowed[:, None, :], heatmap_logits.dtype)


def class_vs_background(heatmap_logits):
  """The heatmap a network trained with `label_softmax` gives at inference, where the labels
  are unknown: channel c+1 is `label_softmax`'s H[c] for a video labelled with c alone, the
  softmax over {background, c}, sigmoid(logit_c - logit_bg); channel 0 is the background
  against the likeliest class, 1 - max_c of them. [B, T, C+1] logits -> [B, T, C+1].

  Detection localises each class separately (paper 3.5), as growing grows it (3.2.3): a class
  the video may not contain takes no probability mass from the one localised, as in training.
  """
  actions = tf.sigmoid(heatmap_logits[..., 1:] - heatmap_logits[..., :1])
  return tf.concat([1.0 - tf.reduce_max(actions, axis=-1, keepdims=True), actions], axis=-1)


@tf.function(input_signature=[
    tf.TensorSpec([None, None, None], tf.float32),  # heatmaps H [B, T, C+1] (probabilities)
    tf.TensorSpec([None, None, None], tf.float32),  # seeds [B, T, C+1] in {0, 1}
    tf.TensorSpec([None, None], tf.float32),  # mask [B, T]: 1 = real segment, 0 = padding
    tf.TensorSpec([None, None], tf.float32),  # labels [B, C] multi-hot
    tf.TensorSpec([], tf.float32),  # theta_g of the action classes
    tf.TensorSpec([], tf.float32),  # theta_g of the background
])
def grow(heatmaps, seeds, mask, labels, threshold_fg, threshold_bg):
  """Grows the seeds of every class of every video to the fixed point of eq. 1.

  Returns the grown labels T_c of eq. 4 as float32 [B, T, C+1] in {0, 1}: channel 0 the
  background, channel c+1 class c. Seeds of classes the video is not labelled with, and seeds on
  padding, are ignored.
  """
  heatmaps = tf.stop_gradient(heatmaps)
  batch = tf.shape(heatmaps)[0]
  length = tf.shape(heatmaps)[1]
  channels = tf.shape(heatmaps)[2]

  # Channels a video may be labelled with: the background and its labelled classes.
  allowed = tf.concat([tf.ones([batch, 1]), labels], axis=1) > 0.5  # [B, C+1]
  valid = (mask > 0.5)[:, :, None] & allowed[:, None, :]  # [B, T, C+1]

  # The argmax over the allowed channels only.
  restricted = tf.where(allowed[:, None, :], heatmaps, -1.0)
  is_argmax = tf.one_hot(tf.argmax(restricted, axis=-1, output_type=tf.int32), channels,
                         on_value=True, off_value=False)
  thresholds = tf.concat([[threshold_bg], tf.fill([channels - 1], threshold_fg)], axis=0)
  qualifies = (heatmaps >= thresholds) & is_argmax & valid
  seeded = (seeds > 0.5) & valid
  reachable = qualifies | seeded

  # One row per (video, channel), time last.
  rows = tf.reshape(tf.transpose(reachable, [0, 2, 1]), [-1, length])
  row_seeds = tf.reshape(tf.transpose(seeded, [0, 2, 1]), [-1, length])
  previous = tf.pad(rows[:, :-1], [[0, 0], [1, 0]])
  starts = rows & ~previous
  run_number = tf.cumsum(tf.cast(starts, tf.int32), axis=1)  # 1, 2, ... within each row
  num_rows = tf.shape(rows)[0]
  run_id = run_number + (length + 1) * tf.range(num_rows)[:, None]
  run_has_seed = tf.math.unsorted_segment_max(
      tf.cast(row_seeds, tf.int32), run_id, num_segments=num_rows * (length + 1))
  grown_rows = rows & (tf.gather(run_has_seed, run_id) > 0)

  grown = tf.transpose(tf.reshape(grown_rows, [batch, channels, length]), [0, 2, 1])
  return tf.cast(grown, tf.float32)

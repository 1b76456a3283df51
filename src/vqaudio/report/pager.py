"""A frame-by-frame pager of original vs coded rate-K vectors for the envelope codec (the Codec 2 experiments'
vq_pager), as a piece of HTML that works from disk: the frames are embedded as JSON and drawn on a <canvas> by a
few lines of inline JavaScript, with previous / next buttons (and the arrow keys). No server, no extra files.

Original: the model's front-end on a validation utterance (at the model's input level); coded: the model's output
for it, quantized by every stage (what the decoder rebuilds from the codes). Shown: the `n_frames` consecutive
frames where the utterance is loudest, each with its spectral distortion (mean squared dB difference over the K
bands, the figure the envelope benchmark reports) and the codes of its latent frame.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape

import numpy as np
import torch

from vqaudio.audio import rate_k_frequencies, scale_to_level
from vqaudio.models import EnvelopeVQVAE

__all__ = ["EnvelopeFrames", "envelope_frames", "pager_html"]

N_FRAMES = 40


@dataclass
class EnvelopeFrames:
    """Consecutive frames of one utterance: original and coded rate-K dB (N, K), the bands' frequencies (K,) in Hz,
    the first frame's index and the frame period in ms, and each frame's codes (N, stages)."""

    original: np.ndarray
    coded: np.ndarray
    band_hz: np.ndarray
    first_frame: int
    frame_ms: float
    codes: np.ndarray

    @property
    def distortion_db2(self) -> np.ndarray:
        """Per frame, the mean over bands of the squared dB difference (spectral distortion, dB²)."""
        return np.mean(np.square(self.original - self.coded), axis=1)


def envelope_frames(model: EnvelopeVQVAE, wave: np.ndarray, n_frames: int = N_FRAMES) -> EnvelopeFrames:
    """The `n_frames` loudest consecutive frames of `wave` (mono, at the model's rate), original and coded."""
    cfg = model.config
    wave = np.asarray(wave, dtype=np.float32)
    if cfg.input_level_db is not None:  # as the codec and training see it
        wave, _ = scale_to_level(wave, cfg.sample_rate, cfg.input_level_db)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            env = cfg.front_end.features(torch.from_numpy(wave))  # (K, N)
            out = model(env.unsqueeze(0))
    finally:
        model.train(was_training)
    original = env.T.numpy()
    coded = out.reconstruction_db[0].T.numpy()
    codes = out.codes[0].numpy()  # (N', stages)
    n = min(n_frames, len(original))
    loudness = np.convolve(original.mean(axis=1), np.ones(n), mode="valid")  # summed over each window of n frames
    first = int(np.argmax(loudness))
    frames = np.arange(first, first + n)
    return EnvelopeFrames(
        original=original[frames],
        coded=coded[frames],
        band_hz=rate_k_frequencies(cfg.k, cfg.f_min, cfg.f_max),
        first_frame=first,
        frame_ms=1000.0 * cfg.hop_length / cfg.sample_rate,
        codes=codes[np.minimum(frames // cfg.downsample_factor, len(codes) - 1)],
    )


def pager_html(frames: EnvelopeFrames, element_id: str = "rate-k-pager") -> str:
    """The pager: a canvas, previous / next buttons, a caption, the frames as JSON and the script that draws them."""
    data = {
        "original": np.round(frames.original, 2).tolist(),
        "coded": np.round(frames.coded, 2).tolist(),
        "bandHz": np.round(frames.band_hz, 1).tolist(),
        "firstFrame": frames.first_frame,
        "frameMs": frames.frame_ms,
        "sd": np.round(frames.distortion_db2, 2).tolist(),
        "codes": frames.codes.tolist(),
    }
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")  # cannot close the <script>
    ident = escape(element_id, quote=True)
    return f"""<div id="{ident}" class="pager" tabindex="0">
<p><button type="button" data-step="-1">&larr; previous</button>
<button type="button" data-step="1">next &rarr;</button>
<span class="pager-caption"></span></p>
<canvas width="720" height="320" style="border:1px solid #ddd;max-width:100%"></canvas>
<noscript><p class="none">the pager needs JavaScript</p></noscript>
<script type="application/json">{payload}</script>
<script>{_SCRIPT.replace("ELEMENT_ID", json.dumps(element_id))}</script>
</div>"""


# Draws frame i: both vectors against band frequency (mel-spaced bands, evenly spaced on the axis), dB axis fixed over
# all frames so frames compare; the buttons and the arrow keys (when the pager has focus) step through the frames.
_SCRIPT = """
(function () {
  var root = document.getElementById(ELEMENT_ID);
  var d = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  var canvas = root.querySelector("canvas"), ctx = canvas.getContext("2d");
  var caption = root.querySelector(".pager-caption");
  var n = d.original.length, k = d.bandHz.length, i = 0;
  var all = [].concat.apply([], d.original.concat(d.coded));
  var lo = Math.floor(Math.min.apply(null, all) / 10) * 10, hi = Math.ceil(Math.max.apply(null, all) / 10) * 10;
  if (hi <= lo) { hi = lo + 10; }
  var L = 55, R = 15, T = 15, B = 40, W = canvas.width - L - R, H = canvas.height - T - B;
  function x(b) { return L + (k > 1 ? b / (k - 1) : 0.5) * W; }
  function y(v) { return T + (hi - v) / (hi - lo) * H; }
  function line(values, colour) {
    ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.beginPath();
    values.forEach(function (v, b) { if (b) { ctx.lineTo(x(b), y(v)); } else { ctx.moveTo(x(b), y(v)); } });
    ctx.stroke();
  }
  function draw() {
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.font = "11px sans-serif"; ctx.fillStyle = "#444"; ctx.strokeStyle = "#e4e4e4"; ctx.lineWidth = 1;
    for (var v = lo; v <= hi; v += 10) {
      ctx.beginPath(); ctx.moveTo(L, y(v)); ctx.lineTo(L + W, y(v)); ctx.stroke();
      ctx.fillText(v + " dB", 5, y(v) + 4);
    }
    for (var b = 0; b < k; b += Math.max(1, Math.round(k / 8))) {
      ctx.fillText((d.bandHz[b] / 1000).toFixed(2), x(b) - 12, T + H + 15);
    }
    ctx.fillText("band frequency (kHz)", L + W / 2 - 50, T + H + 32);
    line(d.original[i], "#1f77b4"); line(d.coded[i], "#ff7f0e");
    ctx.fillStyle = "#1f77b4"; ctx.fillText("original", L + W - 110, T + 12);
    ctx.fillStyle = "#ff7f0e"; ctx.fillText("coded", L + W - 50, T + 12);
    var frame = d.firstFrame + i;
    caption.textContent = "frame " + (i + 1) + " of " + n + " (frame " + frame + ", t = " +
      (frame * d.frameMs / 1000).toFixed(2) + " s), SD " + d.sd[i].toFixed(1) + " dB\\u00b2, codes " +
      d.codes[i].join(", ");
  }
  function step(by) { i = (i + by + n) % n; draw(); }
  root.querySelectorAll("button").forEach(function (button) {
    button.addEventListener("click", function () { step(parseInt(button.dataset.step, 10)); });
  });
  root.addEventListener("keydown", function (e) {
    if (e.key === "ArrowLeft") { step(-1); e.preventDefault(); }
    if (e.key === "ArrowRight") { step(1); e.preventDefault(); }
  });
  draw();
})();
"""

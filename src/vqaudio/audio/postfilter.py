"""The codec's decoder postfilter: sharpen a decoded dB spectrum the way speech codecs do."""

from __future__ import annotations

import torch

__all__ = ["sharpen_db"]


def sharpen_db(db: torch.Tensor, amount: float, width: int = 9) -> torch.Tensor:
    """Postfilter for decoded (..., F, N) dB spectrograms: peaks up, valleys down, each frame's power kept.

    db + amount * (db - its moving average over `width` bins), then a per-frame gain restores the frame's
    power. Decoders trained on squared error blur harmonics and formants toward their mean; speech codecs
    (Codec 2 among them) sharpen them back so that voiced speech sounds less muffled. amount 0 returns db.
    """
    if amount < 0 or width < 1 or width % 2 == 0:
        raise ValueError(f"sharpen_db needs amount >= 0 and an odd width >= 1, got {amount}, {width}")
    if amount == 0:
        return db
    images = db.reshape(-1, 1, db.shape[-2], db.shape[-1])  # mean over `width` bins, frame by frame
    local = torch.nn.functional.avg_pool2d(images, (width, 1), 1, (width // 2, 0), count_include_pad=False)
    local = local.reshape(db.shape)
    out = db + amount * (db - local)
    gain_db = 10.0 * (
        torch.log10(torch.pow(10.0, db / 10.0).sum(-2, keepdim=True))
        - torch.log10(torch.pow(10.0, out / 10.0).sum(-2, keepdim=True))
    )
    return out + gain_db

"""Batched augmentation on CPU tensors: geometry, photometry, occlusion and image degradations.

All functions take and return float tensors (N, 1, S, S) with values in [0, 1].
Synthetic occluders imitate what real faces carry: a glasses-like bar over the eyes, a
medical-mask-like block over mouth and nose, and a hand-like ellipse anywhere on the face.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def random_affine(x: torch.Tensor, g: torch.Generator, rot: float, scale: float, shift: float, flip_p: float):
    n = x.shape[0]
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(rot)
    s = 1 + (torch.rand(n, generator=g) * 2 - 1) * scale
    tx, ty = (torch.rand(2, n, generator=g) * 2 - 1) * shift * 2
    flip = torch.where(torch.rand(n, generator=g) < flip_p, -1.0, 1.0)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def photometric(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    n = x.shape[0]
    gamma = torch.exp((torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * 0.4)
    x = x.clamp(1e-4, 1) ** gamma
    gain = 0.7 + 0.6 * torch.rand(n, 1, 1, 1, generator=g)
    mean = x.mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * gain + mean + (torch.rand(n, 1, 1, 1, generator=g) - 0.5) * 0.2
    noise = torch.randn(x.shape, generator=g) * (torch.rand(n, 1, 1, 1, generator=g) < 0.2) * 0.03
    return (x + noise).clamp(0, 1)


def _uniform(g, n, lo, hi):
    return lo + (hi - lo) * torch.rand(n, 1, 1, generator=g)


def occlusion_masks(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    """(n, size, size) boolean masks, each one of: eye bar, lower-face mask, hand ellipse, block."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    yy, xx = yy[None], xx[None]
    kind = torch.randint(0, 4, (n, 1, 1), generator=g)
    # glasses-like bar across the eyes
    y0 = _uniform(g, n, 0.25, 0.38)
    bar = (
        (yy > y0)
        & (yy < y0 + _uniform(g, n, 0.1, 0.2))
        & (xx > _uniform(g, n, 0.0, 0.15))
        & (xx < _uniform(g, n, 0.85, 1.0))
    )
    # medical-mask-like block from below the nose to the chin
    top = _uniform(g, n, 0.5, 0.68)
    mask = (yy > top) & (xx > _uniform(g, n, 0.05, 0.2)) & (xx < _uniform(g, n, 0.8, 0.95))
    # hand-like ellipse
    cy, cx = _uniform(g, n, 0.3, 1.0), _uniform(g, n, 0.0, 1.0)
    ry, rx = _uniform(g, n, 0.15, 0.35), _uniform(g, n, 0.12, 0.3)
    hand = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
    # random block (random erasing)
    by, bx = _uniform(g, n, 0.0, 0.7), _uniform(g, n, 0.0, 0.7)
    block = (yy > by) & (yy < by + _uniform(g, n, 0.15, 0.35)) & (xx > bx) & (xx < bx + _uniform(g, n, 0.15, 0.35))
    return torch.where(kind == 0, bar, torch.where(kind == 1, mask, torch.where(kind == 2, hand, block)))


def occlude(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    n, _, size, _ = x.shape
    which = torch.rand(n, generator=g) < p
    if not which.any():
        return x
    m = occlusion_masks(n, size, g) & which[:, None, None]
    fill = torch.rand(n, 1, 1, generator=g) + torch.randn(n, size, size, generator=g) * 0.05
    x = x.clone()
    x[:, 0] = torch.where(m, fill.clamp(0, 1), x[:, 0])
    return x


def _pick(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    return torch.nonzero(torch.rand(x.shape[0], generator=g) < p).flatten()


def blur(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    """Gaussian blur (sigma 0.4-1.6 px at 48 px) on a random fraction ``p`` of the faces."""
    idx = _pick(x, g, p)
    if not len(idx):
        return x
    sigma = 0.4 + 1.2 * torch.rand(len(idx), 1, generator=g)
    taps = torch.arange(-3, 4, dtype=x.dtype)[None]
    k = torch.exp(-(taps**2) / (2 * sigma**2))
    k = k / k.sum(1, keepdim=True)
    sub = x[idx].transpose(0, 1)  # (1, m, S, S): one group per face
    sub = F.conv2d(F.pad(sub, (3, 3, 0, 0), mode="reflect"), k[:, None, None, :], groups=len(idx))
    sub = F.conv2d(F.pad(sub, (0, 0, 3, 3), mode="reflect"), k[:, None, :, None], groups=len(idx))
    x = x.clone()
    x[idx] = sub.transpose(0, 1)
    return x


def low_resolution(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    """Down to 12-32 px and back up (small, distant faces) on a fraction ``p`` of the faces."""
    idx = _pick(x, g, p)
    if not len(idx):
        return x
    size = x.shape[-1]
    x = x.clone()
    for i in idx.tolist():
        small = int(torch.randint(12, 33, (1,), generator=g))
        down = F.interpolate(x[i : i + 1], size=(small, small), mode="area")
        x[i : i + 1] = F.interpolate(down, size=(size, size), mode="bilinear", align_corners=False)
    return x


def jpeg(x: torch.Tensor, g: torch.Generator, p: float) -> torch.Tensor:
    """JPEG at quality 10-60 on a fraction ``p`` of the faces (the robustness benchmark's
    :func:`affectlens.eval.perturb.jpeg`, so training and evaluation degrade faces alike)."""
    import numpy as np

    from affectlens.eval.perturb import jpeg as jpeg_crops

    idx = _pick(x, g, p)
    if not len(idx):
        return x
    x = x.clone()
    for i in idx.tolist():
        quality = int(torch.randint(10, 61, (1,), generator=g))
        crop = (x[i, 0].numpy() * 255).round().astype(np.uint8)
        x[i, 0] = torch.from_numpy(jpeg_crops(crop[None], quality)[0].astype(np.float32) / 255.0)
    return x


def augment_views(x: torch.Tensor, g: torch.Generator, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clean, degraded)`` views of a batch: ``clean`` has the geometry and photometry, and
    ``degraded`` is the same faces after occlusion, blur, low resolution and JPEG (a distilling
    teacher sees ``clean``, the student ``degraded``)."""
    x = random_affine(x, g, cfg.max_rotation, cfg.max_scale, cfg.max_shift, cfg.flip_p)
    clean = photometric(x, g)
    x = occlude(clean, g, cfg.occlusion_p)
    x = blur(x, g, getattr(cfg, "blur_p", 0.0))
    x = low_resolution(x, g, getattr(cfg, "lowres_p", 0.0))
    return clean, jpeg(x, g, getattr(cfg, "jpeg_p", 0.0))


def augment(x: torch.Tensor, g: torch.Generator, cfg) -> torch.Tensor:
    return augment_views(x, g, cfg)[1]

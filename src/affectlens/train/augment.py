"""Batched augmentation on CPU tensors: geometry, photometry and synthetic occlusion.

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


def augment(x: torch.Tensor, g: torch.Generator, cfg) -> torch.Tensor:
    x = random_affine(x, g, cfg.max_rotation, cfg.max_scale, cfg.max_shift, cfg.flip_p)
    x = photometric(x, g)
    return occlude(x, g, cfg.occlusion_p)

"""Smooth, seeded noise fields defined at any map coordinate (metres), so any sensor sees the same
ground whatever its grid: value noise on a hashed lattice, summed over octaves (fractal noise)."""

from __future__ import annotations

import numpy as np

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """A uniform [0, 1) value for each integer lattice point, stable across platforms."""
    with np.errstate(over="ignore"):
        h = ix.astype(np.int64).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h = h ^ (iy.astype(np.int64).astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F))
        h ^= np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x165667B19E3779F9)
        h ^= h >> np.uint64(31)
        h = (h * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        h ^= h >> np.uint64(29)
        h = (h * np.uint64(0x94D049BB133111EB)) & _MASK
        h ^= h >> np.uint64(32)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def value_noise(x: np.ndarray, y: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """Smoothly interpolated lattice noise in [0, 1) with features of about ``cell`` metres."""
    gx, gy = np.asarray(x, dtype=np.float64) / cell, np.asarray(y, dtype=np.float64) / cell
    ix, iy = np.floor(gx), np.floor(gy)
    fx, fy = gx - ix, gy - iy
    sx, sy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    ix, iy = ix.astype(np.int64), iy.astype(np.int64)
    v00, v10 = _hash01(ix, iy, seed), _hash01(ix + 1, iy, seed)
    v01, v11 = _hash01(ix, iy + 1, seed), _hash01(ix + 1, iy + 1, seed)
    top = v00 + (v10 - v00) * sx
    bottom = v01 + (v11 - v01) * sx
    return top + (bottom - top) * sy


def fractal_noise(
    x: np.ndarray, y: np.ndarray, cell: float, seed: int, octaves: int = 4
) -> np.ndarray:
    """Fractal (multi-octave) value noise in [0, 1], coarsest features about ``cell`` metres."""
    total = np.zeros(np.broadcast(x, y).shape)
    weight, norm = 1.0, 0.0
    for octave in range(octaves):
        total += weight * value_noise(x, y, cell / 2**octave, seed * 131 + octave)
        norm += weight
        weight *= 0.5
    return total / norm


def _grid_value_noise(x: np.ndarray, y: np.ndarray, cell: float, seed: int) -> np.ndarray:
    """``value_noise`` on the grid of 1-D coordinates ``x``, ``y``, hashing lattice points once."""
    gx, gy = x / cell, y / cell
    ix, iy = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
    sx = (gx - ix) ** 2 * (3 - 2 * (gx - ix))
    sy = (gy - iy) ** 2 * (3 - 2 * (gy - iy))
    lx = np.arange(ix.min(), ix.max() + 2)
    ly = np.arange(iy.min(), iy.max() + 2)
    lattice = _hash01(lx[None, :], ly[:, None], seed)
    cx, cy = ix - lx[0], iy - ly[0]
    top = lattice[cy][:, cx] * (1 - sx) + lattice[cy][:, cx + 1] * sx
    bottom = lattice[cy + 1][:, cx] * (1 - sx) + lattice[cy + 1][:, cx + 1] * sx
    return top * (1 - sy)[:, None] + bottom * sy[:, None]


def grid_noise(
    x: np.ndarray, y: np.ndarray, cell: float, seed: int, octaves: int = 4
) -> np.ndarray:
    """``fractal_noise`` on the grid spanned by 1-D pixel-centre coordinates ``x`` and ``y``."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    total = np.zeros((len(y), len(x)))
    weight, norm = 1.0, 0.0
    for octave in range(octaves):
        total += weight * _grid_value_noise(x, y, cell / 2**octave, seed * 131 + octave)
        norm += weight
        weight *= 0.5
    return total / norm

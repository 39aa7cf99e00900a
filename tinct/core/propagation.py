"""Affinity propagation (Levin, Lischinski & Weiss, SIGGRAPH 2004): spread known values over a grid
so that neighbours of similar intensity get similar values and intensity edges stop them.

:func:`levin_solve` is what both colour scribbles (:mod:`tinct.classical.scribbles`) and the colour
hints of hint models (:func:`tinct.core.hints.propagate_hint_residuals`) solve.
"""

from __future__ import annotations

import numpy as np


def levin_weights(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Affinities of each pixel to its 8 neighbours (Levin et al. 2004, as in their released code).

    ``Y`` is h x w intensity in [0, 1]. ``w_rs = exp(-(Y_r - Y_s)^2 / c_r)`` normalised to sum 1
    over the neighbours s of r, with ``c_r = 2 sigma_r^2`` taken as 0.6 x the variance of the
    3 x 3 window around r, floored so that the most similar neighbour keeps a weight of at least
    0.01 and at 2e-6. Returns (weights (8, h, w), offsets (8, 2)); out-of-image neighbours weigh 0.
    """
    h, w = Y.shape
    offsets = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    padded = np.pad(Y, 1, constant_values=np.nan)
    nb = np.stack([padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in offsets])
    valid = ~np.isnan(nb)
    count = valid.sum(0) + 1
    nb0 = np.where(valid, nb, 0.0)
    mean = (nb0.sum(0) + Y) / count
    var = (np.where(valid, (nb0 - mean) ** 2, 0.0).sum(0) + (Y - mean) ** 2) / count
    d2 = np.where(valid, (nb0 - Y) ** 2, np.inf)
    csig = np.maximum(0.6 * var, d2.min(0) / -np.log(0.01))
    csig = np.maximum(csig, 2e-6)
    wts = np.exp(-d2 / csig)  # 0 where invalid
    wts /= wts.sum(0)
    return wts, offsets


def nested_dissection(h: int, w: int, leaf: int = 8) -> np.ndarray:
    """Geometric nested-dissection order of an h x w grid with a 3 x 3 stencil.

    Recursively splits the longer side of a rectangle by one row or column (which separates a
    3 x 3 stencil), ordering the two halves first and the separator last. For grid systems it
    keeps the LU fill near O(n log n), several times below SuperLU's own COLAMD ordering.
    """
    idx = np.arange(h * w).reshape(h, w)
    parts: list[np.ndarray] = []

    def split(y0: int, y1: int, x0: int, x1: int) -> None:
        if y1 - y0 <= leaf and x1 - x0 <= leaf:
            parts.append(idx[y0:y1, x0:x1].ravel())
        elif y1 - y0 >= x1 - x0:
            m = (y0 + y1) // 2
            split(y0, m, x0, x1)
            split(m + 1, y1, x0, x1)
            parts.append(idx[m, x0:x1])
        else:
            m = (x0 + x1) // 2
            split(y0, y1, x0, m)
            split(y0, y1, m + 1, x1)
            parts.append(idx[y0:y1, m])

    split(0, h, 0, w)
    return np.concatenate(parts)


def levin_solve(Y: np.ndarray, fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Solve Levin et al.'s propagation on a grid: x_r = sum_s w_rs x_s, x = values where fixed.

    ``Y`` h x w in [0, 1], ``fixed`` bool h x w, ``values`` (C, n_fixed) in ``fixed``'s C order.
    Returns float64 (C, h, w). The system (I - W) x = b is not symmetric (each row is normalised
    on its own), so it is factorised once by sparse LU (SuperLU) and solved for all C channels.
    I - W is a nonsingular M-matrix (every pixel is linked to a constraint through positive
    weights), so LU needs no pivoting: the unknowns are ordered by geometric nested dissection
    and factorised in that order, about 4x faster than SuperLU's default ordering. The factors
    are single precision (half the time and memory; the colours differ from a float64 solve by
    well under 0.1 ab units).
    """
    import scipy.sparse as sp  # here, not at import: the pipeline imports this module, and scipy.sparse is slow
    import scipy.sparse.linalg as spla

    h, w = Y.shape
    n = h * w
    wts, offsets = levin_weights(Y)
    order = nested_dissection(h, w)
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)  # grid index -> position in the elimination order
    idx = pos.reshape(h, w)
    free = ~fixed
    rows, cols, data = [idx[fixed], idx[free]], [idx[fixed], idx[free]], [np.ones(n)]
    for k, (dy, dx) in enumerate(offsets):
        sl_dst = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
        sl_src = (slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx)))
        keep = free[sl_dst]
        rows.append(idx[sl_dst][keep])
        cols.append(idx[sl_src][keep])
        data.append(-wts[k][sl_dst][keep])
    A = sp.csc_matrix(
        (np.concatenate(data).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    b = np.zeros((n, values.shape[0]), np.float32)
    b[pos[np.flatnonzero(fixed)]] = values.T
    lu = spla.splu(A, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return lu.solve(b)[pos].T.reshape(-1, h, w).astype(np.float64)

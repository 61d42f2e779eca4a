"""Dynamic time warping: compiled per-pair kernels on CPU, a batched torch wavefront on other devices.

Reference: H. Sakoe and S. Chiba, "Dynamic programming algorithm optimization for spoken word
recognition", IEEE Trans. ASSP 26(1), 1978.

On CPU (float32/float64, numba installed) each pair runs in :mod:`._dtw_kernels`, compiled on the
first call: one pass along the anti-diagonals ``i + j = k`` with the local distances of a diagonal
computed in the same pass (no N x M table), one thread. Elsewhere (GPU, other dtypes, no numba, or
``MMML_DTW_BACKEND=torch``) the same recursion is evaluated in torch one anti-diagonal at a time:
every cell of a diagonal depends only on the two previous diagonals, so each step is a handful of
vectorised ops over (cells of the diagonal) x (batch). Tensors are kept batch-last, ``(N, M, B)``, so
that a diagonal is a strided view whose inner dimension (the batch) is contiguous. Local distances
are computed per diagonal from ``x`` and ``y`` (few features) or from one batched matmul (many
features). With ``return_path=False`` only three diagonals are kept in memory. Both routes give the
same costs and the same paths (ties: diagonal, then vertical, then horizontal).

Conventions: ``distance="sqeuclidean"`` sums squared Euclidean distances along the path, so
``dtw(x, y) == tslearn.metrics.dtw(x, y) ** 2 == dtaidistance.dtw.distance(x, y) ** 2`` (those
libraries return the square root of that sum). ``symmetric1`` is ``c + min(diag, up, left)``;
``symmetric2`` weighs the diagonal step twice, ``min(diag + 2c, up + c, left + c)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["STEP_PATTERNS", "dtw", "dtw_from_cost", "band_range"]

#: step weights (diagonal, vertical, horizontal) of each supported step pattern
STEP_PATTERNS: dict[str, tuple[float, float, float]] = {
    "symmetric1": (1.0, 1.0, 1.0),
    "symmetric2": (2.0, 1.0, 1.0),
}
DISTANCES = ("sqeuclidean", "euclidean")
# above this many features the local distances come from one matmul instead of per-diagonal differences
_MATMUL_MIN_FEATURES = 8
_KERNELS: list = []  # the compiled CPU kernels module (or None without numba), loaded on first use


def _cpu_kernels(*tensors: Tensor):
    """:mod:`._dtw_kernels` when every tensor is a float32/float64 CPU tensor and numba imports, else None.

    ``MMML_DTW_BACKEND=torch`` forces the torch wavefront (which also runs on GPUs)."""
    if os.environ.get("MMML_DTW_BACKEND", "auto") == "torch":
        return None
    if any(t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64) for t in tensors):
        return None
    if not _KERNELS:
        try:
            from . import _dtw_kernels
        except ImportError:  # numba missing: the torch wavefront is correct, only slower on CPU
            _dtw_kernels = None
        _KERNELS.append(_dtw_kernels)
    return _KERNELS[0]


def _run_compiled(kernels, x: Tensor | None, y: Tensor | None, cost: Tensor | None, n_len: list[int],
                  m_len: list[int], window: int | None, weights: tuple[float, float, float], distance: str,
                  return_path: bool):
    """Costs (B,) and paths of :func:`_run` from the compiled kernels, one pair at a time."""
    ref = cost if cost is not None else x
    np_dtype = np.float64 if ref.dtype == torch.float64 else np.float32
    bsz = ref.shape[0]
    n, m = (cost.shape[1], cost.shape[2]) if cost is not None else (x.shape[1], y.shape[1])
    nl, ml = np.asarray(n_len, dtype=np.int64), np.asarray(m_len, dtype=np.int64)
    out = np.empty(bsz, dtype=np_dtype)
    paths = np.empty((bsz, n + m - 1, 2) if return_path else (1, 1, 2), dtype=np.int64)
    plen = np.zeros(bsz, dtype=np.int64)
    w_diag = np_dtype(weights[0] - 1.0)
    win = -1 if window is None else int(window)
    if cost is not None:
        kernels.dtw_costs(cost.detach().contiguous().numpy(), nl, ml, win, w_diag, return_path, out, paths, plen)
    else:
        kernels.dtw_sequences(x.detach().contiguous().numpy(), y.detach().contiguous().numpy(), nl, ml, win, w_diag,
                              distance == "euclidean", return_path, out, paths, plen)
    cost_t = torch.from_numpy(out)
    if not return_path:
        return cost_t, None
    return cost_t, [torch.from_numpy(paths[b, : plen[b]]) for b in range(bsz)]


def band_range(k: int, n: int, m: int, window: int | None) -> tuple[int, int]:
    """Rows ``lo..hi`` (1-based, inclusive) of anti-diagonal ``i + j = k`` inside an n x m grid and the band."""
    lo, hi = max(1, k - m), min(n, k - 1)
    if window is not None:  # Sakoe-Chiba band |i - j| <= window, with j = k - i
        lo, hi = max(lo, (k - window + 1) // 2), min(hi, (k + window) // 2)
    return lo, hi


def _check_choice(name: str, value: str, options: Sequence[str]) -> None:
    if value not in options:
        raise ValueError(f"{name}={value!r} is not supported; choose one of {list(options)}")


def _as_batch(t: Tensor, name: str) -> tuple[Tensor, bool]:
    """(B, N, D) from (B, N, D), (N, D) or (N,); also says whether the input was a single sequence."""
    if not isinstance(t, Tensor):
        t = torch.as_tensor(t)
    if not t.is_floating_point():
        t = t.to(torch.get_default_dtype())
    if t.dim() == 1:
        return t[None, :, None], True
    if t.dim() == 2:
        return t[None], True
    if t.dim() == 3:
        return t, False
    raise ValueError(f"{name} has shape {tuple(t.shape)}; pass (B, N, D) for a batch, (N, D) or (N,) for one sequence")


def _lengths(lengths: Tensor | Sequence[int] | None, b: int, n: int, name: str) -> list[int]:
    if lengths is None:
        out = [n] * b
    else:
        out = [int(v) for v in torch.as_tensor(lengths).reshape(-1).tolist()]
        if len(out) != b:
            raise ValueError(f"{name} has {len(out)} entries but the batch has {b} sequences")
        bad = [(i, v) for i, v in enumerate(out) if v > n or v < 0]
        if bad:
            raise ValueError(f"{name}[{bad[0][0]}]={bad[0][1]} lies outside 0..{n} (the padded length)")
    for i, v in enumerate(out):
        if v == 0:
            what = name.replace("_lengths", "")
            raise ValueError(
                f"{what} is an empty sequence at batch index {i} (length 0); DTW needs at least one "
                f"frame per sequence, so drop empty pairs before aligning"
            )
    return out


def _check_band(window: int | None, n_len: list[int], m_len: list[int]) -> None:
    if window is None:
        return
    if window < 0:
        raise ValueError(f"window={window} must be >= 0 (or None for no band)")
    for b, (n, m) in enumerate(zip(n_len, m_len, strict=True)):
        if abs(n - m) > window:
            raise ValueError(
                f"window={window} is too narrow to reach the end of pair {b}: its lengths are N={n}, M={m}, "
                f"|N - M| = {abs(n - m)}; use window >= {abs(n - m)} or window=None"
            )


class _DiagonalCosts:
    """Local distances of the cells on an anti-diagonal, as a (cells, B) tensor."""

    def __init__(self, x: Tensor | None, y: Tensor | None, cost: Tensor | None, distance: str):
        self.sqrt = distance == "euclidean"
        if cost is not None:  # (N, M, B) contiguous: cell (i, j) of diagonal i + j = d at offset d + i (M - 1)
            n, m, b = cost.shape
            self.diag = cost.as_strided((n + m - 1, n, b), (b, (m - 1) * b, 1), cost.storage_offset())
            self.mode = "cost"
        else:
            assert x is not None and y is not None
            n, b, d = x.shape[0], x.shape[1], x.shape[2]
            self.m = y.shape[0]
            self.x = x.permute(0, 2, 1).contiguous()  # (N, D, B)
            self.yr = y.flip(0).permute(0, 2, 1).contiguous()  # (M, D, B), reversed so a diagonal is a slice
            self.buf = torch.empty((n, d, b), dtype=x.dtype, device=x.device)
            self.mode = "diff"

    def __call__(self, k: int, lo: int, hi: int) -> Tensor:
        """Cells (i, k - i) for i in lo..hi (1-based), i.e. x[i - 1] against y[k - i - 1]."""
        if self.mode == "cost":
            return self.diag[k - 2, lo - 1 : hi]
        start = self.m - k + lo  # reversed index of y[k - lo - 1]
        d = self.buf[: hi - lo + 1]
        torch.sub(self.x[lo - 1 : hi], self.yr[start : start + hi - lo + 1], out=d)
        d.square_()
        c = d[:, 0] if d.shape[1] == 1 else d.sum(1)
        return c.sqrt_() if self.sqrt else c


def _pairwise(x: Tensor, y: Tensor, distance: str) -> Tensor:
    """(N, M, B) local distances from (B, N, D) and (B, M, D) by one batched matmul."""
    xx = (x * x).sum(-1)
    yy = (y * y).sum(-1)
    c = torch.baddbmm(xx[:, :, None] + yy[:, None, :], x, y.transpose(1, 2), alpha=-2.0).clamp_(min=0)
    if distance == "euclidean":
        c.sqrt_()
    return c.permute(1, 2, 0).contiguous()


def _wavefront(costs: _DiagonalCosts, n: int, m: int, bsz: int, n_len: list[int], m_len: list[int],
               window: int | None, weights: tuple[float, float, float], keep: bool,
               dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor | None]:
    """Run the recursion on three rolling diagonals; returns the costs (B,) and, with ``keep``, the
    (N, M, B) uint8 table of each cell's best step (0 diagonal, 1 vertical, 2 or 3 horizontal)."""
    inf = math.inf
    w_diag = weights[0] - 1.0  # symmetric patterns: R = c + min(diag + (w_d - 1) c, up, left)
    bufs = [torch.full((n + 1, bsz), inf, dtype=dtype, device=device) for _ in range(3)]
    bufs[0][0] = 0.0  # diagonal k is bufs[k % 3], indexed by the row i of cell (i, k - i), 1-based
    steps = steps_diag = mask = None
    if keep:
        steps = torch.empty((n, m, bsz), dtype=torch.uint8, device=device)
        steps_diag = steps.as_strided((n + m - 1, n, bsz), (bsz, (m - 1) * bsz, 1))
        mask = torch.empty((n, bsz), dtype=torch.bool, device=device)
    full_len = all(a == n for a in n_len) and all(a == m for a in m_len)
    out = torch.empty(bsz, dtype=dtype, device=device)
    ends: dict[int, list[int]] = {}
    if not full_len:
        for b, (a, c) in enumerate(zip(n_len, m_len, strict=True)):
            ends.setdefault(a + c, []).append(b)
    ends_idx = {k: (torch.tensor(v, device=device), torch.tensor([n_len[b] for b in v], device=device))
                for k, v in ends.items()}
    tmp = torch.empty((n, bsz), dtype=dtype, device=device)
    for k in range(2, n + m + 1):
        lo, hi = band_range(k, n, m, window)
        r2, r1, r0 = bufs[(k - 2) % 3], bufs[(k - 1) % 3], bufs[k % 3]
        if lo > hi:  # the band leaves no cell on this diagonal (odd diagonals when window = 0)
            r0.fill_(inf)
            continue
        c = costs(k, lo, hi)
        t = tmp[: hi - lo + 1]
        diag, up, left = r2[lo - 1 : hi], r1[lo - 1 : hi], r1[lo : hi + 1]
        if w_diag:
            diag = torch.add(diag, c, alpha=w_diag, out=t)
        if keep:  # code: 1 if up beats diag, + 2 if left beats both (ties keep the diagonal, then up)
            best = steps_diag[k - 2, lo - 1 : hi]
            torch.lt(up, diag, out=best.view(torch.bool))
            torch.minimum(diag, up, out=t)
            best.add_(torch.lt(left, t, out=mask[: hi - lo + 1]).view(torch.uint8), alpha=2)
        else:
            torch.minimum(diag, up, out=t)
        torch.minimum(t, left, out=t)
        torch.add(t, c, out=r0[lo : hi + 1])
        # fence the rows next to this diagonal's range: they still hold values of diagonal k - 3
        r0[lo - 1].fill_(inf)
        if hi < n:
            r0[hi + 1].fill_(inf)
        if k in ends_idx:
            idx, rows = ends_idx[k]
            out[idx] = r0[rows, idx]
    if full_len:
        out = bufs[(n + m) % 3][n].clone()
    return out, steps


def _backtrack(steps: Tensor, n_len: list[int], m_len: list[int]) -> list[Tensor]:
    """Batched backtracking through the (N, M, B) best-step table from (N_b, M_b) to (1, 1).

    Returns 0-based (L_b, 2) index paths. Works on flat positions, so that a step is a gather and
    a subtraction; from (1, 1) the diagonal step would leave the table, so positions are clamped there.
    On CPU it runs in numpy, whose per-call overhead is a fraction of torch's on these small steps.
    """
    m, bsz = steps.shape[1], steps.shape[2]
    n_steps = max(a + b for a, b in zip(n_len, m_len, strict=True)) - 1
    # step codes 0 diagonal, 1 vertical, 2 and 3 horizontal, as position offsets
    moves = [(m + 1) * bsz, m * bsz, bsz, bsz]
    if steps.device.type == "cpu":
        flat, offsets, floor = steps.reshape(-1).numpy(), np.asarray(moves), np.arange(bsz)
        trail = np.empty((n_steps, bsz), dtype=np.int64)
        trail[0] = cur = ((np.asarray(n_len) - 1) * m + np.asarray(m_len) - 1) * bsz + floor
        for s in range(1, n_steps):
            cur = np.maximum(cur - offsets[flat[cur]], floor)  # floor: position of cell (1, 1)
            trail[s] = cur
        where = trail[::-1].T  # (B, S) from the start; a pair done early starts with repeats of (1, 1)
        keep = where != floor[:, None]
        keep[floor, n_steps - 1 - keep.sum(1)] = True  # (1, 1) itself, once
        cells = where[keep] // bsz
        ij = torch.from_numpy(np.stack([cells // m, cells % m], 1))
        return list(torch.split(ij, keep.sum(1).tolist()))
    device = steps.device
    flat, offsets, floor = steps.reshape(-1), torch.tensor(moves, device=device), torch.arange(bsz, device=device)
    pos = ((torch.tensor(n_len, device=device) - 1) * m + torch.tensor(m_len, device=device) - 1) * bsz + floor
    trail_t = [pos]
    for _ in range(n_steps - 1):
        pos = torch.maximum(pos - offsets[flat[pos].long()], floor)
        trail_t.append(pos)
    where_t = torch.stack(trail_t[::-1], 1)
    keep_t = where_t != floor[:, None]
    keep_t[floor, n_steps - 1 - keep_t.sum(1)] = True
    cells_t = torch.div(where_t[keep_t], bsz, rounding_mode="floor")
    ij_t = torch.stack([torch.div(cells_t, m, rounding_mode="floor"), cells_t % m], 1)
    return list(torch.split(ij_t, keep_t.sum(1).tolist()))


@torch.no_grad()
def _run(x: Tensor | None, y: Tensor | None, cost: Tensor | None, n_len: list[int], m_len: list[int],
         window: int | None, step_pattern: str, distance: str, return_path: bool, single: bool):
    weights = STEP_PATTERNS[step_pattern]
    _check_band(window, n_len, m_len)
    kernels = _cpu_kernels(*(t for t in (x, y, cost) if t is not None))
    if kernels is not None:  # (B, N, D) sequences or (B, N, M) costs, one compiled pass per pair
        out, paths = _run_compiled(kernels, x, y, cost, n_len, m_len, window, weights, distance, return_path)
        if single:
            return (out[0], paths[0]) if return_path else out[0]
        return (out, paths) if return_path else out
    if cost is not None:
        cost = cost.permute(1, 2, 0).contiguous()
        n, m, bsz = cost.shape
        dtype, device = cost.dtype, cost.device
        costs = _DiagonalCosts(None, None, cost, distance)
    else:
        assert x is not None and y is not None
        bsz, n, d = x.shape
        m = y.shape[1]
        dtype, device = x.dtype, x.device
        if d >= _MATMUL_MIN_FEATURES:
            cost = _pairwise(x, y, distance)
            costs = _DiagonalCosts(None, None, cost, distance)
        else:
            xt, yt = x.transpose(0, 1), y.transpose(0, 1)  # (N, B, D)
            costs = _DiagonalCosts(xt, yt, None, distance)
    out, steps = _wavefront(costs, n, m, bsz, n_len, m_len, window, weights, return_path, dtype, device)
    paths = _backtrack(steps, n_len, m_len) if steps is not None else None
    if single:
        return (out[0], paths[0]) if return_path else out[0]
    return (out, paths) if return_path else out


def dtw(x: Tensor, y: Tensor, x_lengths: Tensor | Sequence[int] | None = None,
        y_lengths: Tensor | Sequence[int] | None = None, *, window: int | None = None,
        step_pattern: str = "symmetric1", distance: str = "sqeuclidean", return_path: bool = False):
    """Dynamic time warping cost (and optionally warping path) of each pair in a batch.

    Sakoe & Chiba (1978). Runs on the inputs' device, one vectorised step per anti-diagonal.

    Args:
        x: (B, N, D) batch, or one sequence (N, D) or (N,).
        y: (B, M, D) batch, or one sequence (M, D) or (M,); same D as ``x``.
        x_lengths, y_lengths: (B,) true lengths of padded sequences (default: all N, all M).
        window: Sakoe-Chiba band radius, cells with |i - j| <= window (default: no band).
        step_pattern: ``"symmetric1"`` (tslearn, dtaidistance) or ``"symmetric2"`` (diagonal weighs 2).
        distance: local distance, ``"sqeuclidean"`` or ``"euclidean"``.
        return_path: also return, per pair, a (L, 2) LongTensor of 0-based (i, j) from (0, 0) to (N-1, M-1).

    Returns:
        cost (B,) (a scalar for one sequence), or ``(cost, paths)`` with ``return_path=True``.

    Examples:
        >>> x = torch.tensor([0.0, 1.0, 2.0]); y = torch.tensor([0.0, 1.0, 1.0, 2.0])
        >>> cost, path = dtw(x, y, return_path=True)
        >>> float(cost), path.tolist()
        (0.0, [[0, 0], [1, 1], [1, 2], [2, 3]])
    """
    _check_choice("step_pattern", step_pattern, list(STEP_PATTERNS))
    _check_choice("distance", distance, DISTANCES)
    xb, single_x = _as_batch(x, "x")
    yb, single_y = _as_batch(y, "y")
    if single_x != single_y:
        raise ValueError(
            f"x has shape {tuple(x.shape)} and y has shape {tuple(y.shape)}: pass both as batches "
            f"(B, N, D) or both as single sequences"
        )
    if xb.shape[0] != yb.shape[0]:
        raise ValueError(f"x has {xb.shape[0]} sequences but y has {yb.shape[0]}; DTW aligns them pairwise")
    if xb.shape[2] != yb.shape[2]:
        raise ValueError(
            f"x has {xb.shape[2]} features per frame but y has {yb.shape[2]}; DTW compares frames directly, "
            f"so project both to a common space first (CanonicalTimeWarping learns such projections)"
        )
    if xb.device != yb.device:
        raise ValueError(f"x is on {xb.device} but y is on {yb.device}; move both to one device")
    if xb.shape[1] == 0 or yb.shape[1] == 0:
        which = "x" if xb.shape[1] == 0 else "y"
        raise ValueError(f"{which} is an empty sequence (0 frames); DTW needs at least one frame per sequence")
    dtype = torch.promote_types(xb.dtype, yb.dtype)
    xb, yb = xb.to(dtype), yb.to(dtype)
    n_len = _lengths(x_lengths, xb.shape[0], xb.shape[1], "x_lengths")
    m_len = _lengths(y_lengths, yb.shape[0], yb.shape[1], "y_lengths")
    return _run(xb, yb, None, n_len, m_len, window, step_pattern, distance, return_path, single_x)


def dtw_from_cost(cost: Tensor, x_lengths: Tensor | Sequence[int] | None = None,
                  y_lengths: Tensor | Sequence[int] | None = None, *, window: int | None = None,
                  step_pattern: str = "symmetric1", return_path: bool = False):
    """Dynamic time warping on precomputed local costs, e.g. negative log-likelihoods or cosine distances.

    Sakoe & Chiba (1978); same recursion, band and paths as :func:`dtw`.

    Args:
        cost: (B, N, M) local costs, or one (N, M) matrix.
        x_lengths, y_lengths: (B,) true sizes of the padded rows and columns.

    Returns:
        cost (B,) (a scalar for one matrix), or ``(cost, paths)`` with ``return_path=True``.

    Examples:
        >>> c = torch.tensor([[0.0, 5.0], [5.0, 0.0], [5.0, 0.0]])
        >>> total, path = dtw_from_cost(c, return_path=True)
        >>> float(total), path.tolist()
        (0.0, [[0, 0], [1, 1], [2, 1]])
    """
    _check_choice("step_pattern", step_pattern, list(STEP_PATTERNS))
    if not isinstance(cost, Tensor):
        cost = torch.as_tensor(cost)
    if not cost.is_floating_point():
        cost = cost.to(torch.get_default_dtype())
    single = cost.dim() == 2
    if single:
        cost = cost[None]
    if cost.dim() != 3:
        raise ValueError(f"cost has shape {tuple(cost.shape)}; pass (B, N, M) or one (N, M) matrix")
    bsz, n, m = cost.shape
    if n == 0 or m == 0:
        raise ValueError(f"cost has shape {tuple(cost.shape)}: an empty sequence; DTW needs at least one frame each")
    n_len = _lengths(x_lengths, bsz, n, "x_lengths")
    m_len = _lengths(y_lengths, bsz, m, "y_lengths")
    return _run(None, None, cost.detach(), n_len, m_len, window, step_pattern, "sqeuclidean", return_path, single)

"""Compiled CPU kernels for DTW and soft-DTW (numba), one pair at a time, one thread.

Imported lazily by :mod:`mmml.alignment.dynamic_time_warping` and :mod:`mmml.alignment.soft_dtw_loss`
on the first CPU call (never at package import); compiled once and cached on disk (``cache=True``).

Hard DTW (Sakoe & Chiba, 1978) runs along anti-diagonals ``i + j = k``: the cells of a diagonal are
independent, so the local distances of a diagonal (a loop over features, contiguous over cells: ``x``
is stored (D, N) and ``y`` reversed, (D, M)) and the min-plus step vectorise, with no serial chain
from one cell to the next. Same recursion, band and tie rule (diagonal, then vertical, then horizontal)
as the torch wavefront. Soft-DTW (Cuturi & Blondel, ICML 2017) runs its forward recursion
(Algorithm 1) along anti-diagonals too, so that the ``exp``/``log`` of a cell do not wait on its left
neighbour; the backward recursion (Algorithm 2) runs row by row from the end, each edge weight
``exp((R[s] - R[p] - w c[s]) / gamma)`` computed once.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

U = np.uint64  # unsigned indices: no negative-index wraparound checks, so inner loops vectorise
_OPTS = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False}


@njit(**_OPTS)
def _band(k, n, m, window):
    lo, hi = max(1, k - m), min(n, k - 1)
    if window >= 0:
        lo, hi = max(lo, (k - window + 1) // 2), min(hi, (k + window) // 2)
    return lo, hi


@njit(**_OPTS)
def _step(r0, r1, r2, acc, lo, hi, w_diag, keep, sd, so):
    """One anti-diagonal: r0[i] = c + min(r2[i-1] + w_diag c, r1[i-1], r1[i]) for i in lo..hi, c = acc[i];
    with ``keep``, the step codes into sd[so + i - 1] (0 diagonal, 1 vertical, 2 or 3 horizontal).

    Indices are unsigned: numba then drops its negative-index checks and the loops vectorise."""
    size, a, o = U(hi - lo + 1), U(lo - 1), U(lo)
    if keep:
        sa = U(so + lo - 1)
        for t in range(size):
            c = acc[o + t]
            dg = r2[a + t] + w_diag * c if w_diag != 0 else r2[a + t]
            up = r1[a + t]
            lf = r1[o + t]
            code = 0
            best = dg
            if up < dg:
                best = up
                code = 1
            if lf < best:
                best = lf
                code += 2
            r0[o + t] = best + c
            sd[sa + t] = code
    elif w_diag != 0:
        for t in range(size):
            c = acc[o + t]
            dg = r2[a + t] + w_diag * c
            up = r1[a + t]
            lf = r1[o + t]
            best = up if up < dg else dg
            best = lf if lf < best else best
            r0[o + t] = best + c
    else:
        for t in range(size):
            dg = r2[a + t]
            up = r1[a + t]
            lf = r1[o + t]
            best = up if up < dg else dg
            best = lf if lf < best else best
            r0[o + t] = best + acc[o + t]


@njit(**_OPTS)
def _backtrack(steps, n_max, n, m, path):
    """0-based path from (0, 0) to (n - 1, m - 1) into path[:L]; steps[(i + j) n_max + i] is cell (i, j)'s code."""
    i, j, size = n - 1, m - 1, 0
    while True:
        path[size, 0] = i
        path[size, 1] = j
        size += 1
        if i == 0 and j == 0:
            break
        code = steps[(i + j) * n_max + i]
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        elif code == 0:
            i -= 1
            j -= 1
        elif code == 1:
            i -= 1
        else:
            j -= 1
    for a in range(size // 2):
        b = size - 1 - a
        for col in range(2):
            t = path[a, col]
            path[a, col] = path[b, col]
            path[b, col] = t
    return size


@njit(**_OPTS)
def _fence(r0, lo, hi, n):
    """Rows next to this diagonal's range still hold diagonal k - 3: make them unreachable."""
    r0[lo - 1] = np.inf
    if hi < n:
        r0[hi + 1] = np.inf


@njit(**_OPTS)
def _start(r0, r1, r2):
    """The three rolling diagonals before diagonal k = 2: r2 holds diagonal 0 (cell (0, 0) = 0, two steps
    back), r1 diagonal 1; every other cell unreachable (inf)."""
    r0[:] = np.inf
    r1[:] = np.inf
    r2[:] = np.inf
    r2[0] = 0.0


@njit(**_OPTS)
def _cost_diagonal(c, k, lo, hi, acc):
    """acc[i] = c[i - 1, k - i - 1], i = lo..hi: the local costs of anti-diagonal k's cells (i, k - i) from the
    (N, M) matrix ``c``, with unsigned indices (no wraparound checks: 30% faster than signed at length 400)."""
    for i in range(U(lo), U(hi + 1)):
        acc[i] = c[i - U(1), U(k) - i - U(1)]


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _sq_dist_row(xf, a, yf, q, d):
    """sum_f (xf[a + f] - yf[q + f])^2, vectorised over the features (the sum may be reassociated)."""
    s = 0.0
    for f in range(U(d)):
        u = xf[a + f] - yf[q + f]
        s += u * u
    return s


# many features and short sequences: distances cell by cell over contiguous features (all in cache);
# otherwise along the diagonal, contiguous over cells
_BY_CELL_MIN_FEATURES, _BY_CELL_MAX_LENGTH = 16, 200


@njit(**_OPTS)
def dtw_sequences(x, y, n_len, m_len, window, w_diag, euclid, keep, out, paths, path_len):
    """DTW of each pair of (B, N, D) ``x`` and (B, M, D) ``y``; costs into ``out`` (B,), paths (with
    ``keep``) into ``paths`` (B, N + M - 1, 2) and their lengths into ``path_len``. ``window < 0``: no band."""
    bsz, n_max, d = x.shape
    m_max = y.shape[1]
    inf = np.inf
    xt = np.empty(d * n_max, dtype=x.dtype)  # (D, N): feature f of x[i] at f n_max + i
    yr = np.empty(d * m_max, dtype=x.dtype)  # (D, M) reversed: feature f of y[j] at f m_max + m - 1 - j
    r0, r1, r2 = np.empty(n_max + 2, x.dtype), np.empty(n_max + 2, x.dtype), np.empty(n_max + 2, x.dtype)
    acc = np.empty(n_max + 1, dtype=x.dtype)
    steps = np.empty((n_max + m_max - 1) * n_max if keep else 1, dtype=np.uint8)
    by_cell = d >= _BY_CELL_MIN_FEATURES and max(n_max, m_max) <= _BY_CELL_MAX_LENGTH
    xf, yf = x.reshape(bsz * n_max * d), y.reshape(bsz * m_max * d)
    for b in range(bsz):
        n, m = n_len[b], m_len[b]
        if not by_cell:
            for i in range(n):
                for f in range(d):
                    xt[f * n_max + i] = x[b, i, f]
            for j in range(m):
                for f in range(d):
                    yr[f * m_max + m - 1 - j] = y[b, j, f]
        _start(r0, r1, r2)
        for k in range(2, n + m + 1):
            lo, hi = _band(k, n, m, window)
            if lo > hi:
                r0[:] = inf
                r2, r1, r0 = r1, r0, r2
                continue
            # local distances of cells (i, k - i), i = lo..hi: x[i - 1] against y[k - i - 1] = yr[m - k + i]
            size, o = U(hi - lo + 1), U(lo)
            if by_cell:
                for i in range(lo, hi + 1):
                    acc[i] = _sq_dist_row(xf, U((b * n_max + i - 1) * d), yf, U((b * m_max + k - i - 1) * d), d)
                f = d  # done
            else:
                for t in range(size):
                    acc[o + t] = 0.0
                f = 0
            while f + 4 <= d:  # four features a pass: a quarter of the loads and stores of acc
                a0, q0 = U(f * n_max + lo - 1), U(f * m_max + m - k + lo)
                a1, q1 = a0 + U(n_max), q0 + U(m_max)
                a2, q2 = a1 + U(n_max), q1 + U(m_max)
                a3, q3 = a2 + U(n_max), q2 + U(m_max)
                for t in range(size):
                    u0 = xt[a0 + t] - yr[q0 + t]
                    u1 = xt[a1 + t] - yr[q1 + t]
                    u2 = xt[a2 + t] - yr[q2 + t]
                    u3 = xt[a3 + t] - yr[q3 + t]
                    acc[o + t] += (u0 * u0 + u1 * u1) + (u2 * u2 + u3 * u3)
                f += 4
            while f < d:
                a, q = U(f * n_max + lo - 1), U(f * m_max + m - k + lo)
                for t in range(size):
                    u = xt[a + t] - yr[q + t]
                    acc[o + t] += u * u
                f += 1
            if euclid:
                for t in range(size):
                    acc[o + t] = math.sqrt(acc[o + t])
            _step(r0, r1, r2, acc, lo, hi, w_diag, keep, steps, (k - 2) * n_max)
            _fence(r0, lo, hi, n)
            r2, r1, r0 = r1, r0, r2
        out[b] = r1[n]  # diagonal n + m, rotated into r1
        if keep:
            path_len[b] = _backtrack(steps, n_max, n, m, paths[b])


@njit(**_OPTS)
def dtw_costs(cost, n_len, m_len, window, w_diag, keep, out, paths, path_len):
    """DTW of each (N, M) local-cost matrix of ``cost`` (B, N, M); outputs as :func:`dtw_sequences`."""
    bsz, n_max, m_max = cost.shape
    inf = np.inf
    r0, r1, r2 = np.empty(n_max + 2, cost.dtype), np.empty(n_max + 2, cost.dtype), np.empty(n_max + 2, cost.dtype)
    acc = np.empty(n_max + 1, dtype=cost.dtype)
    steps = np.empty((n_max + m_max - 1) * n_max if keep else 1, dtype=np.uint8)
    for b in range(bsz):
        n, m = n_len[b], m_len[b]
        c = cost[b]
        _start(r0, r1, r2)
        for k in range(2, n + m + 1):
            lo, hi = _band(k, n, m, window)
            if lo > hi:
                r0[:] = inf
                r2, r1, r0 = r1, r0, r2
                continue
            _cost_diagonal(c, k, lo, hi, acc)
            _step(r0, r1, r2, acc, lo, hi, w_diag, keep, steps, (k - 2) * n_max)
            _fence(r0, lo, hi, n)
            r2, r1, r0 = r1, r0, r2
        out[b] = r1[n]
        if keep:
            path_len[b] = _backtrack(steps, n_max, n, m, paths[b])


@njit(**_OPTS)
def sq_distances(x, y, out):
    """out[b, i, j] = sum_f (x[b, i, f] - y[b, j, f]) ** 2 for (B, N, D) ``x`` and (B, M, D) ``y``."""
    bsz, n, d = x.shape
    m = y.shape[1]
    yt = np.empty((d, m), dtype=x.dtype)
    for b in range(bsz):
        for j in range(m):
            for f in range(d):
                yt[f, j] = y[b, j, f]
        for i in range(n):
            row = out[b, i]
            xv, yf = x[b, i, 0], yt[0]
            for j in range(m):
                u = xv - yf[j]
                row[j] = u * u
            for f in range(1, d):
                xv, yf = x[b, i, f], yt[f]
                for j in range(m):
                    u = xv - yf[j]
                    row[j] += u * u


_EXP_FLOOR = -64.0  # exp(-64) = 1.6e-28: below half an ulp of the softmin's sum, which holds an exact 1
_ROUND = 6755399441055744.0  # 1.5 * 2^52: (v + _ROUND) - _ROUND rounds v to an integer, in float arithmetic
_LN2_HI, _LN2_LO = 0.6931471803691238, 1.9082149292705877e-10  # Cody & Waite split of log 2


@njit(**_OPTS)
def _exp_neg(x):
    """exp(x) for x <= 0 to a few ulp, in float arithmetic only, so that loops over it vectorise
    (numba's libm exp and table look-ups do not): x = k log 2 + r with |r| <= log(2) / 2, exp(r) by its
    Taylor series to degree 13 (Horner), times 2^k by selected factors 2^-64, ..., 2^-1.
    Arguments below -64 (and NaN) give exp(-64)."""
    x = x if x > _EXP_FLOOR else _EXP_FLOOR
    k = (x * 1.4426950408889634 + _ROUND) - _ROUND
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = 1.6059043836821613e-10  # 1/13!, then 1/12!, ..., 1/0!
    p = p * r + 2.08767569878681e-09
    p = p * r + 2.505210838544172e-08
    p = p * r + 2.755731922398589e-07
    p = p * r + 2.7557319223985893e-06
    p = p * r + 2.48015873015873e-05
    p = p * r + 0.0001984126984126984
    p = p * r + 0.001388888888888889
    p = p * r + 0.008333333333333333
    p = p * r + 0.041666666666666664
    p = p * r + 0.16666666666666666
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    e = -k  # 0..93, as the sum of its binary digits
    for bit, factor in ((64.0, 5.421010862427522e-20), (32.0, 2.3283064365386963e-10), (16.0, 1.52587890625e-05),
                        (8.0, 0.00390625), (4.0, 0.0625), (2.0, 0.25), (1.0, 0.5)):
        on = e >= bit
        e = e - bit if on else e
        p = p * factor if on else p
    return p


@njit(**_OPTS)
def _log_1_3(s):
    """log(s) for s in [1, 3] (a softmin sum) to a few ulp, branch-free: s = 2^e s' with s' in
    [0.71, 1.42], log s' = 2 atanh(z), z = (s' - 1) / (s' + 1), |z| <= 0.172, by its series to z^23."""
    big = s > 1.4142135623730951
    s2 = s * 0.5 if big else s
    z = (s2 - 1.0) / (s2 + 1.0)
    w = z * z
    q = 0.043478260869565216
    q = q * w + 0.047619047619047616
    q = q * w + 0.05263157894736842
    q = q * w + 0.058823529411764705
    q = q * w + 0.06666666666666667
    q = q * w + 0.07692307692307693
    q = q * w + 0.09090909090909091
    q = q * w + 0.1111111111111111
    q = q * w + 0.14285714285714285
    q = q * w + 0.2
    q = q * w + 0.3333333333333333
    q = q * w + 1.0
    return (0.6931471805599453 if big else 0.0) + 2.0 * z * q


@njit(**_OPTS)
def soft_dtw_forward(cost, n_len, m_len, window, gamma, w_d, w_v, w_h, table, out):
    """Soft-DTW (Cuturi & Blondel, Algorithm 1) of each (N, M) matrix of ``cost`` (B, N, M), one
    anti-diagonal at a time on three rolling diagonals (so that the exp/log of a diagonal's cells
    vectorise); fills ``table`` (B, (N + 2) (M + 2)), R row-major with border, inf off the band.
    softmin(a) = min(a) - gamma log sum exp((min(a) - a) / gamma): one term of the sum is exactly 1."""
    bsz, n_max, m_max = cost.shape
    inf = np.inf
    ig = 1.0 / gamma
    wd = U(m_max + 2)  # row stride of R
    r0, r1, r2 = np.empty(n_max + 2, np.float64), np.empty(n_max + 2, np.float64), np.empty(n_max + 2, np.float64)
    acc = np.empty(n_max + 1, dtype=np.float64)
    for b in range(bsz):
        n, m = n_len[b], m_len[b]
        r, c = table[b], cost[b]
        r[:] = inf
        r[0] = 0.0
        _start(r0, r1, r2)
        for k in range(2, n + m + 1):
            lo, hi = _band(k, n, m, window)
            if lo > hi:
                r0[:] = inf
                r2, r1, r0 = r1, r0, r2
                continue
            _cost_diagonal(c, k, lo, hi, acc)
            size, a, o = U(hi - lo + 1), U(lo - 1), U(lo)
            for t in range(size):
                cc = acc[o + t]
                a0 = r2[a + t] + w_d * cc
                a1 = r1[a + t] + w_v * cc
                a2 = r1[o + t] + w_h * cc
                mn = a1 if a1 < a0 else a0
                mn = a2 if a2 < mn else mn
                sm = _exp_neg((mn - a0) * ig) + _exp_neg((mn - a1) * ig) + _exp_neg((mn - a2) * ig)
                r0[o + t] = mn - gamma * _log_1_3(sm)  # inf where all three are inf (off the band)
            _fence(r0, lo, hi, n)
            for i in range(U(lo), U(hi + 1)):
                r[i * (wd - U(1)) + U(k)] = r0[i]  # R[i, k - i]
            r2, r1, r0 = r1, r0, r2
        out[b] = r[U(n) * wd + U(m)]


@njit(**_OPTS)
def soft_dtw_backward(cost, table, n_len, m_len, gamma, w_d, w_v, w_h, grad_out, grad):
    """Gradient of soft-DTW with respect to ``cost`` (Cuturi & Blondel, Algorithm 2), into ``grad``
    (B, N, M), which must start at zero; ``table`` (B, N + 2, M + 2) from :func:`soft_dtw_forward`.
    E[i, j] = sum over the successors s of (i, j) of E[s] p(s <- (i, j)), with the softmin weight
    p(s <- p) = exp((R[s] - R[p] - w c[s]) / gamma), and d value / d c[i, j] = E[i, j] sum_t w_t p_t[i, j].
    Row by row from the end: the weights of a row in one vectorised pass, then the E recursion."""
    bsz, _, m_max = cost.shape
    inf = np.inf
    ig = 1.0 / gamma
    st = m_max + 2
    # per row: weights pd, pv, ph and their weighted sum, at [0, st), [st, 2 st), ...; one buffer, so
    # that the vectorised pass has a single store target (few run-time aliasing checks)
    w_next, w_cur = np.empty(4 * st, np.float64), np.empty(4 * st, np.float64)
    e_next, e_cur = np.empty(st, np.float64), np.empty(st, np.float64)
    for b in range(bsz):
        n, m = n_len[b], m_len[b]
        r, c, g = table[b], cost[b], grad[b]
        e_next[:] = 0.0
        w_next[:] = 0.0
        for i in range(n, 0, -1):
            row, up, ci, gi = r[i], r[i - 1], c[i - 1], g[i - 1]
            # weights of the three predecessors of (i, j), j = 1..m (zero from an unreachable one)
            for t in range(U(m)):
                j = t + U(1)
                rij = row[j]
                cc = ci[t]
                p_d, p_v, p_h = up[t], up[j], row[t]
                pd = _exp_neg((rij - p_d - w_d * cc) * ig)  # computed everywhere, then selected: no branch
                pv = _exp_neg((rij - p_v - w_v * cc) * ig)
                ph = _exp_neg((rij - p_h - w_h * cc) * ig)
                on = rij != inf  # off the band: no weight in or out
                pd = pd if on & (p_d != inf) else 0.0
                pv = pv if on & (p_v != inf) else 0.0
                ph = ph if on & (p_h != inf) else 0.0
                w_cur[j] = pd
                w_cur[U(st) + j] = pv
                w_cur[U(2 * st) + j] = ph
                w_cur[U(3 * st) + j] = w_d * pd + w_v * pv + w_h * ph
            w_cur[m + 1] = 0.0
            w_cur[2 * st + m + 1] = 0.0
            e_right = 0.0
            for j in range(m, 0, -1):
                if i == n and j == m:
                    e = grad_out[b]
                else:
                    e = e_next[j] * w_next[st + j] + e_right * w_cur[2 * st + j + 1] + e_next[j + 1] * w_next[j + 1]
                gi[j - 1] = e * w_cur[3 * st + j]
                e_cur[j] = e
                e_right = e
            e_cur[m + 1] = 0.0
            e_next, e_cur = e_cur, e_next
            w_next, w_cur = w_cur, w_next

"""Compiled passes (numba, cached on disk) that stand in for runs of small numpy calls in the stages.

On a chain of a few hundred contracts each numpy call costs more in its fixed overhead than in its
arithmetic, and a stage's tests, masks and per-strike sums are dozens of such calls. Each kernel here
does one of those runs in a single pass, with the same arithmetic in the same order as the numpy
expressions it replaces (the docstrings quote them): comparisons, +, -, *, / and sums accumulated in
row order, as `np.bincount` accumulates; no exp, log or erfc (numpy's and the C library's may differ
in the last bit), and no reordered sums (numpy's `sum` is pairwise: sums that numpy does with `sum`
stay numpy's). Division follows numpy's rules (x/0 is inf or NaN, no exception). So the figures are
the same to the last bit, which the stages' tests check against the numpy forms.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
from numpy.typing import NDArray


@nb.njit(cache=True, nogil=True, error_model="numpy")
def spike_tests(volume: NDArray[np.float64], oi: NDArray[np.float64], last: NDArray[np.float64],
                multiplier: float, min_vol_oi: float, min_volume: float, min_notional: float
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per contract (vol_oi, notional, code) as the volume-spike stage's numpy forms give them:
    vol_oi = where((oi > 0) & (volume > 0), volume / oi, nan); notional = volume * last * multiplier;
    code = the first failing test, in order: not oi > 0 (1), not volume > 0 (2), vol_oi < min_vol_oi
    (3), volume < min_volume (4), last is NaN (5), notional < min_notional (6); 0 = a spike."""
    n = volume.size
    vol_oi = np.empty(n)
    notional = np.empty(n)
    code = np.zeros(n, dtype=np.int64)
    for i in range(n):
        v, o, p = volume[i], oi[i], last[i]
        ratio = v / o if (o > 0 and v > 0) else math.nan
        dollars = v * p * multiplier
        vol_oi[i] = ratio
        notional[i] = dollars
        if not o > 0:
            code[i] = 1
        elif not v > 0:
            code[i] = 2
        elif ratio < min_vol_oi:
            code[i] = 3
        elif v < min_volume:
            code[i] = 4
        elif p != p:
            code[i] = 5
        elif dollars < min_notional:
            code[i] = 6
    return vol_oi, notional, code


@nb.njit(cache=True, nogil=True, error_model="numpy")
def strike_sums(codes: NDArray[np.int64], n: int, strike: NDArray[np.float64], is_call: NDArray[np.bool_],
                is_put: NDArray[np.bool_], oi: NDArray[np.float64], mark: NDArray[np.float64],
                gamma: NDArray[np.float64], forward: float, multiplier: float, forward_squared: float,
                per_percent: float
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                           NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """The risk stage's per-strike sums (`risk.strike_table`) over contracts with a strike code each:
    call OI, put OI, OTM call dollars, OTM put dollars (0 where that side has no OTM contract), OTM
    call and put counts, GEX; each a `stage_tools.group_sum` (NaN where no contract has the figure)
    of dollars = oi * mark * multiplier and gex = sign * gamma * oi * multiplier * forward_squared *
    per_percent (sign +1 call, -1 put, NaN otherwise), accumulated in row order."""
    sums = np.zeros((5, n))
    counts = np.zeros((5, n), dtype=np.int64)
    otm_calls = np.zeros(n)
    otm_puts = np.zeros(n)
    for i in range(codes.size):
        c = codes[i]
        o = oi[i]
        dollars = o * mark[i] * multiplier
        call, put = is_call[i], is_put[i]
        sign = 1.0 if call else (-1.0 if put else math.nan)
        gex = sign * gamma[i] * o * multiplier * forward_squared * per_percent
        otm_call = call and strike[i] > forward
        otm_put = put and strike[i] < forward
        if call and o == o:
            sums[0, c] += o
            counts[0, c] += 1
        if put and o == o:
            sums[1, c] += o
            counts[1, c] += 1
        if otm_call:
            otm_calls[c] += 1.0
            if dollars == dollars:
                sums[2, c] += dollars
                counts[2, c] += 1
        if otm_put:
            otm_puts[c] += 1.0
            if dollars == dollars:
                sums[3, c] += dollars
                counts[3, c] += 1
        if gex == gex:
            sums[4, c] += gex
            counts[4, c] += 1
    out = np.where(counts > 0, sums, math.nan)
    call_dollars = np.where(otm_calls > 0, out[2], 0.0)
    put_dollars = np.where(otm_puts > 0, out[3], 0.0)
    return out[0].copy(), out[1].copy(), call_dollars, put_dollars, otm_calls, otm_puts, out[4].copy()


@nb.njit(cache=True, nogil=True, error_model="numpy")
def crossings(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    """Where y(x) changes sign (`gamma_exposure.sign_changes`' levels, NaN points of y skipped):
    between two nonzero points of opposite sign next to each other, x[i] + (x[j] - x[i]) * y[i] /
    (y[i] - y[j]); with zeros between them, the x of the first zero. Also the sign of the last
    nonzero point (0.0 when there is none)."""
    xs = np.empty(x.size)
    ys = np.empty(x.size)
    m = 0
    for i in range(x.size):
        if y[i] == y[i]:
            xs[m] = x[i]
            ys[m] = y[i]
            m += 1
    levels = np.empty(m)
    found = 0
    previous = -1  # the last nonzero point
    last_sign = 0.0
    for j in range(m):
        if ys[j] == 0:
            continue
        sign = 1.0 if ys[j] > 0 else -1.0
        if previous >= 0 and sign != last_sign:
            i = previous
            if j == i + 1:
                before, after = ys[i], ys[j]
                levels[found] = xs[i] + (xs[j] - xs[i]) * before / (before - after)
            else:
                levels[found] = xs[i + 1]
            found += 1
        previous = j
        last_sign = sign
    return levels[:found].copy(), last_sign


@nb.njit(cache=True, nogil=True, error_model="numpy")
def strike_shares(codes: NDArray[np.int64], strikes: NDArray[np.float64], oi: NDArray[np.float64],
                  volume: NDArray[np.float64], forward: float, limits: NDArray[np.float64],
                  band_weights: NDArray[np.float64], far_weight: float, off_side: float
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                             NDArray[np.float64]]:
    """The EV stage's per-strike terms of its OI and volume factors (`expected_value.direction_factors`):
    per strike the OI and the volume summed in row order (`group_sum`), the band weight w (the first
    band with |k - F| / F <= its limit, else far_weight), and for the strikes with data v * w * m
    with m = 1 on the direction's side of F (above for LONG, below for SHORT) else off_side. Returns
    (oi products LONG, SHORT, volume products LONG, SHORT, [largest OI, largest volume]), each over
    the strikes with that figure in strike order (NaN largest when none has it)."""
    n = strikes.size
    sums = np.zeros((2, n))
    counts = np.zeros((2, n), dtype=np.int64)
    for i in range(codes.size):
        c = codes[i]
        if oi[i] == oi[i]:
            sums[0, c] += oi[i]
            counts[0, c] += 1
        if volume[i] == volume[i]:
            sums[1, c] += volume[i]
            counts[1, c] += 1
    weight = np.empty(n)
    for k in range(n):
        distance = abs(strikes[k] - forward) / forward
        weight[k] = far_weight
        for b in range(limits.size):
            if distance <= limits[b]:
                weight[k] = band_weights[b]
                break
    largest = np.full(2, math.nan)
    products = []
    for f in range(2):
        known = 0
        for k in range(n):
            if counts[f, k] > 0:
                known += 1
                if largest[f] != largest[f] or sums[f, k] > largest[f]:
                    largest[f] = sums[f, k]
        for side in range(2):
            out = np.empty(known)
            j = 0
            for k in range(n):
                if counts[f, k] > 0:
                    on_side = strikes[k] > forward if side == 0 else strikes[k] < forward
                    out[j] = sums[f, k] * weight[k] * (1.0 if on_side else off_side)
                    j += 1
            products.append(out)
    return products[0], products[1], products[2], products[3], largest


@nb.njit(cache=True, nogil=True, error_model="numpy")
def ev_pairs(strikes: NDArray[np.float64], forward: float, max_risk: float, min_reward_risk: float,
             check_sigma: bool, sigma: float, max_sigma: float, min_stop_sigma: float,
             fixed_long: float, scale_long: float, fixed_short: float, scale_short: float, distance_weight: float,
             floor: float, cap: float, min_ev: float, min_probability: float, withhold: bool
             ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64],
                        NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                        NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.int64],
                        NDArray[np.int64]]:
    """The EV stage's pruned pairs with their figures and first failing later limit
    (`expected_value.pair_grid`, `_pair_figures` and `reason_codes` up to its ranking), LONG pairs
    (target above F, stop below) then SHORT ones, each by target then stop ascending (`strikes`
    ascending). A pair is built only when it passes the geometric limits: risk = |F - stop| <=
    max_risk, reward / risk >= min_reward_risk and, with `check_sigma`, not reward / sigma >
    max_sigma and not risk / sigma < min_stop_sigma; the pairs each of these drops are counted
    (codes 1-4, in that order, per direction). Per pair: distance = clip(1 - |F - target| / F, 0, 1), p =
    clip((fixed + distance_weight * distance) * scale, floor, cap) with its direction's fixed and
    scale (NaN: no probability), EV = p * reward - (1 - p) * risk, and the code of the first later
    limit it fails: p missing (5), not EV >= min_ev (6), not p >= min_probability (7), `withhold`
    (8); 0 passes. Returns (target, stop, long, reward, risk, reward/risk, target sigma, stop sigma,
    distance, p, EV, code, and per direction (LONG, SHORT) the pairs dropped per code 0-4)."""
    above = strikes[strikes > forward]
    below = strikes[strikes < forward]
    dropped = np.zeros((2, 5), dtype=np.int64)
    total = above.size * below.size * 2
    target = np.empty(total)
    stop = np.empty(total)
    long = np.empty(total, dtype=np.bool_)
    m = 0
    for side in range(2):
        targets = above if side == 0 else below
        stops = below if side == 0 else above
        kept_stops = np.empty(stops.size)
        kept_risk = np.empty(stops.size)
        s = 0
        for j in range(stops.size):
            risk = abs(forward - stops[j])
            if risk <= max_risk:
                kept_stops[s] = stops[j]
                kept_risk[s] = risk
                s += 1
        dropped[side, 1] += targets.size * (stops.size - s)
        for i in range(targets.size):
            reward = abs(targets[i] - forward)
            target_far = check_sigma and reward / sigma > max_sigma
            for j in range(s):
                if not reward / kept_risk[j] >= min_reward_risk:
                    dropped[side, 2] += 1
                elif target_far:
                    dropped[side, 3] += 1
                elif check_sigma and kept_risk[j] / sigma < min_stop_sigma:
                    dropped[side, 4] += 1
                else:
                    target[m] = targets[i]
                    stop[m] = kept_stops[j]
                    long[m] = side == 0
                    m += 1
    target, stop, long = target[:m].copy(), stop[:m].copy(), long[:m].copy()
    reward = np.empty(m)
    risk = np.empty(m)
    reward_risk = np.empty(m)
    target_sigma = np.empty(m)
    stop_sigma = np.empty(m)
    distance = np.empty(m)
    p = np.empty(m)
    ev = np.empty(m)
    code = np.zeros(m, dtype=np.int64)
    for k in range(m):
        reward[k] = abs(target[k] - forward)
        risk[k] = abs(forward - stop[k])
        reward_risk[k] = reward[k] / risk[k]
        target_sigma[k] = reward[k] / sigma
        stop_sigma[k] = risk[k] / sigma
        d = 1.0 - abs(forward - target[k]) / forward
        d = 0.0 if d < 0.0 else (1.0 if d > 1.0 else d)
        distance[k] = d
        fixed, scale = (fixed_long, scale_long) if long[k] else (fixed_short, scale_short)
        raw = (fixed + distance_weight * d) * scale
        q = raw if raw != raw else (floor if raw < floor else (cap if raw > cap else raw))
        p[k] = q
        ev[k] = q * reward[k] - (1.0 - q) * risk[k]
        if q != q:
            code[k] = 5
        elif not ev[k] >= min_ev:
            code[k] = 6
        elif not q >= min_probability:
            code[k] = 7
        elif withhold:
            code[k] = 8
    return target, stop, long, reward, risk, reward_risk, target_sigma, stop_sigma, distance, p, ev, code, dropped


@nb.njit(cache=True, nogil=True, error_model="numpy")
def battle_zones(strike: NDArray[np.float64], call_dollars: NDArray[np.float64], put_dollars: NDArray[np.float64],
                 forward: float, limits: NDArray[np.float64], urgencies: NDArray[np.float64], distant: float
                 ) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64], NDArray[np.float64],
                            NDArray[np.float64], NDArray[np.float64]]:
    """The risk stage's battle zones (`RiskAnalysis._columns`): the strikes whose dollars at risk,
    nan_to_num(call) + nan_to_num(put), are positive, ranked by danger = dollars x urgency (high
    first), then distance |k - F|, then strike (np.lexsort((strike, distance, -danger))). The zone is
    the first of `limits` the distance is within (its index; len(limits) when none) and the urgency
    that zone's (`distant` beyond them). Returns (positions in `strike`, distance, zone, urgency,
    dollars, danger), ranked."""
    n = strike.size
    big = np.finfo(np.float64).max
    rows = np.empty(n, dtype=np.int64)
    dollars = np.empty(n)
    m = 0
    for k in range(n):
        c, p = call_dollars[k], put_dollars[k]
        c = 0.0 if c != c else (big if c == np.inf else (-big if c == -np.inf else c))
        p = 0.0 if p != p else (big if p == np.inf else (-big if p == -np.inf else p))
        total = c + p
        if total > 0:
            rows[m] = k
            dollars[m] = total
            m += 1
    distance = np.empty(m)
    zone = np.empty(m, dtype=np.int64)
    urgency = np.empty(m)
    danger = np.empty(m)
    for i in range(m):
        d = abs(strike[rows[i]] - forward)
        distance[i] = d
        zone[i] = limits.size
        urgency[i] = distant
        for z in range(limits.size):
            if d <= limits[z]:
                zone[i] = z
                urgency[i] = urgencies[z]
                break
        danger[i] = dollars[i] * urgency[i]
    order = np.arange(m)
    for i in range(1, m):  # insertion sort on (-danger, distance, strike): a few dozen zones
        j = i
        while j > 0:
            a, b = order[j - 1], order[j]
            ka, kb = -danger[a], -danger[b]
            if ka > kb or (ka == kb and (distance[a] > distance[b] or (distance[a] == distance[b]
                                                                         and strike[rows[a]] > strike[rows[b]]))):
                order[j - 1], order[j] = b, a
                j -= 1
            else:
                break
    return rows[:m][order], distance[order], zone[order], urgency[order], dollars[:m][order], danger[order]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def smile_means(strike: NDArray[np.float64], ticks: NDArray[np.int64], iv: NDArray[np.float64],
                otm: NDArray[np.bool_]) -> tuple[NDArray[np.int64], NDArray[np.float64], bool]:
    """`greeks.strike_smile`'s per-(expiration, strike) IV over contracts sorted by expiration ticks
    then strike: the mean IV of the group's OTM contracts, else of its others (np.add.reduceat of the
    IVs, np.where(otm_n > 0, otm_sum / otm_n, other_sum / other_n)). Returns (first position of each
    group, its IV, True); False when a group has more than two contracts (a call and a put), where
    numpy's reduceat adds in another order: the caller then uses numpy."""
    n = strike.size
    first = np.empty(n, dtype=np.int64)
    values = np.empty(n)
    g = 0
    i = 0
    while i < n:
        j = i + 1
        while j < n and strike[j] == strike[i] and ticks[j] == ticks[i]:
            j += 1
        if j - i > 2:
            return first[:0], values[:0], False
        # reduceat over a group of one or two: the first value, plus the second
        otm_sum = iv[i] if otm[i] else 0.0
        other_sum = 0.0 if otm[i] else iv[i]
        otm_n = 1.0 if otm[i] else 0.0
        if j - i == 2:
            otm_sum = otm_sum + (iv[i + 1] if otm[i + 1] else 0.0)
            other_sum = other_sum + (0.0 if otm[i + 1] else iv[i + 1])
            otm_n += 1.0 if otm[i + 1] else 0.0
        other_n = (j - i) - otm_n
        first[g] = i
        values[g] = otm_sum / otm_n if otm_n > 0 else other_sum / other_n
        g += 1
        i = j
    return first[:g].copy(), values[:g].copy(), True


@nb.njit(cache=True, nogil=True)
def exact_points(ticks: NDArray[np.int64], strikes: NDArray[np.float64], forward: float
                 ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Per expiration of a smile (entries sorted by expiration ticks, then strike): its first and
    one-past-last entry, and the first entry whose strike equals `forward` (-1 when none)."""
    n = ticks.size
    starts = np.empty(n, dtype=np.int64)
    stops = np.empty(n, dtype=np.int64)
    exact = np.empty(n, dtype=np.int64)
    g = 0
    i = 0
    while i < n:
        j = i
        hit = -1
        while j < n and ticks[j] == ticks[i]:
            if hit < 0 and strikes[j] == forward:
                hit = j
            j += 1
        starts[g], stops[g], exact[g] = i, j, hit
        g += 1
        i = j
    return starts[:g].copy(), stops[:g].copy(), exact[:g].copy()


# exp(x) is a subnormal number (below 2.2e-308) or 0 below this, ln of the smallest normal double;
# numpy's vectorized exp leaves its fast path for such arguments and then costs ten times as much
EXP_UNDERFLOW = -708.3964185322641
# what `gex_exponents` writes in place of such an exponent: -d1^2 / 2 is never positive, so no real
# exponent is 1, and exp(1) is on the fast path (`gex_totals` counts that density as 0)
UNDERFLOW_MARK = 1.0


@nb.njit(cache=True, nogil=True)
def gex_exponents(log_s: NDArray[np.float64], log_k: NDArray[np.float64], inv_sd: NDArray[np.float64],
                  half_sd: NDArray[np.float64]) -> NDArray[np.float64]:
    """-d1^2 / 2 for every grid price (rows) and contract (columns), d1 = (ln S - ln K) / s + s / 2;
    UNDERFLOW_MARK where it is below EXP_UNDERFLOW, so that numpy's exp of the array stays fast."""
    out = np.empty((log_s.size, log_k.size))
    for i in range(log_s.size):
        for j in range(log_k.size):
            d1 = (log_s[i] - log_k[j]) * inv_sd[j] + half_sd[j]
            exponent = (d1 * d1) * -0.5
            out[i, j] = exponent if exponent >= EXP_UNDERFLOW else UNDERFLOW_MARK
    return out


@nb.njit(cache=True, nogil=True)
def gex_totals(densities: NDArray[np.float64], weight: NDArray[np.float64], out: NDArray[np.float64]) -> None:
    """out[i] += sum_j densities[i, j] x weight[j] over numpy's exp of `gex_exponents`, a density
    above 1 (exp(UNDERFLOW_MARK): no real one exceeds 1) counted as 0: below 2.2e-308 a contract's
    term is under 1e-290 dollars, nothing against any total a report shows."""
    for i in range(densities.shape[0]):
        total = 0.0
        for j in range(densities.shape[1]):
            density = densities[i, j]
            total += (density if density <= 1.0 else 0.0) * weight[j]
        out[i] += total


@nb.njit(cache=True, nogil=True, error_model="numpy")
def spike_rows(rows: NDArray[np.int64], strike: NDArray[np.float64], is_call: NDArray[np.bool_],
               forward: float, vol_oi: NDArray[np.float64], extreme: float, very_high: float, high: float,
               actionable_distance: float
               ) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64],
                          NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64],
                          NDArray[np.bool_]]:
    """The volume-spike table's computed columns for the given rows (`VolumeSpikeAnalysis._columns`):
    (strike, is_call, target, stop, distance_pct, tier, setup_note and direction codes, actionable).
    On the trade's side of F (a call above, a put below) target = strike and stop = F -/+ |K - F| / 2
    (calls -, puts +), else NaN; distance_pct = |K - F| / F; tier = the first of vol/OI >= extreme,
    very_high, high (0-2), else 3; note 0 on the side, 1 at the money, 2 an ITM call, 3 an ITM put;
    direction 0 call, 1 put; actionable = on the side and distance_pct <= actionable_distance."""
    n = rows.size
    strikes = np.empty(n)
    calls = np.empty(n, dtype=np.bool_)
    target = np.empty(n)
    stop = np.empty(n)
    distance = np.empty(n)
    tier = np.empty(n, dtype=np.int64)
    note = np.empty(n, dtype=np.int64)
    direction = np.empty(n, dtype=np.int64)
    actionable = np.empty(n, dtype=np.bool_)
    for i in range(n):
        r = rows[i]
        k = strike[r]
        call = is_call[r]
        strikes[i] = k
        calls[i] = call
        on_side = k > forward if call else k < forward
        half_way = abs(k - forward) / 2.0
        d = abs(k - forward) / forward
        distance[i] = d
        target[i] = k if on_side else math.nan
        stop[i] = ((forward - half_way) if call else (forward + half_way)) if on_side else math.nan
        v = vol_oi[r]
        tier[i] = 0 if v >= extreme else (1 if v >= very_high else (2 if v >= high else 3))
        note[i] = 0 if on_side else (1 if k == forward else (2 if call else 3))
        direction[i] = 0 if call else 1
        actionable[i] = on_side and d <= actionable_distance
    return strikes, calls, target, stop, distance, tier, note, direction, actionable


@nb.njit(cache=True, nogil=True)
def wing_points(rows: NDArray[np.int64], strike: NDArray[np.float64], iv: NDArray[np.float64],
                delta: NDArray[np.float64], is_call: NDArray[np.bool_], is_put: NDArray[np.bool_], forward: float
                ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """`greeks.risk_reversal`'s points among the given rows with an IV and a delta: the OTM puts
    (struck below F) and the OTM calls (above F), each sorted by delta (stable, as np.argsort's
    kind="stable"). Returns (put deltas, put IVs, call deltas, call IVs)."""
    n = rows.size
    put_rows = np.empty(n, dtype=np.int64)
    call_rows = np.empty(n, dtype=np.int64)
    p = 0
    c = 0
    for i in range(n):
        r = rows[i]
        if iv[r] != iv[r] or delta[r] != delta[r]:
            continue
        if is_put[r] and strike[r] < forward:
            put_rows[p] = r
            p += 1
        if is_call[r] and strike[r] > forward:
            call_rows[c] = r
            c += 1
    put_rows = put_rows[:p]
    call_rows = call_rows[:c]
    put_rows = put_rows[np.argsort(delta[put_rows], kind="mergesort")]
    call_rows = call_rows[np.argsort(delta[call_rows], kind="mergesort")]
    return delta[put_rows], iv[put_rows], delta[call_rows], iv[call_rows]


@nb.njit(cache=True, nogil=True, error_model="numpy")
def market_columns(long: NDArray[np.bool_], reward: NDArray[np.float64], risk: NDArray[np.float64],
                   p: NDArray[np.float64], ev: NDArray[np.float64], market: NDArray[np.float64], multiplier: float,
                   out_of_reach: float, disagreement: float, long_factors: NDArray[np.float64],
                   short_factors: NDArray[np.float64]
                   ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                              NDArray[np.int8], NDArray[np.float64]]:
    """The EV table's columns from the pairs' figures and market probability
    (`expected_value._market_columns`): reward, risk and EV x multiplier, the edge p - market, the
    view code (3 no market probability, 1 market < out_of_reach, 2 |p - market| > disagreement, else
    0) and each pair's direction's (oi, volume, premium) factors as a (3, n) array."""
    n = long.size
    reward_dollars = np.empty(n)
    risk_dollars = np.empty(n)
    ev_dollars = np.empty(n)
    edge = np.empty(n)
    view = np.empty(n, dtype=np.int8)
    factors = np.empty((3, n))
    for i in range(n):
        m = market[i]
        reward_dollars[i] = reward[i] * multiplier
        risk_dollars[i] = risk[i] * multiplier
        ev_dollars[i] = ev[i] * multiplier
        edge[i] = p[i] - m
        if m != m:
            view[i] = 3
        elif m < out_of_reach:
            view[i] = 1
        elif abs(p[i] - m) > disagreement:
            view[i] = 2
        else:
            view[i] = 0
        for f in range(3):
            factors[f, i] = long_factors[f] if long[i] else short_factors[f]
    return reward_dollars, risk_dollars, ev_dollars, edge, view, factors


@nb.njit(cache=True, nogil=True)
def sorted_unique(values: NDArray[np.float64]) -> tuple[bool, NDArray[np.float64], NDArray[np.int64]]:
    """np.unique(values, return_inverse=True) when `values` are already in ascending order (no
    NaN): (True, the distinct values, each value's code); (False, empty, empty) otherwise (the
    caller then sorts with np.unique)."""
    n = values.size
    codes = np.empty(n, dtype=np.int64)
    uniques = np.empty(n)
    g = -1
    for i in range(n):
        v = values[i]
        if v != v or (i > 0 and v < values[i - 1]):
            return False, uniques[:0], codes[:0]
        if i == 0 or v != values[i - 1]:
            g += 1
            uniques[g] = v
        codes[i] = g
    return True, uniques[:g + 1].copy(), codes


@nb.njit(cache=True, nogil=True)
def in_order(ticks: NDArray[np.int64], strike: NDArray[np.float64]) -> bool:
    """Whether rows are already in (ticks, strike) order, so that np.lexsort((strike, ticks)) is the
    identity (a stable sort keeps tied rows in place); NaN strikes are not in order."""
    for i in range(1, ticks.size):
        if ticks[i] < ticks[i - 1]:
            return False
        if ticks[i] == ticks[i - 1] and not strike[i] >= strike[i - 1]:
            return False
    return ticks.size == 0 or strike[0] == strike[0]


@nb.njit(cache=True, nogil=True)
def sorted_codes(ticks: NDArray[np.int64], missing: int) -> tuple[bool, NDArray[np.intp], NDArray[np.intp]]:
    """For values already in ascending order without `missing` (NaT): True, a code per value into
    the distinct values (counting the changes) and each distinct value's first position; False
    (and nothing else to read) when they are not (`pipeline._factorize_sorted`)."""
    n = ticks.size
    codes = np.empty(n, dtype=np.intp)
    first = np.empty(n, dtype=np.intp)
    if n == 0 or ticks[0] == missing:
        return False, codes, first[:0]
    code = 0
    codes[0] = 0
    first[0] = 0
    for i in range(1, n):
        if ticks[i] < ticks[i - 1]:
            return False, codes, first[:0]
        if ticks[i] != ticks[i - 1]:
            code += 1
            first[code] = i
        codes[i] = code
    return True, codes, first[:code + 1].copy()


@nb.njit(cache=True, nogil=True)
def gather_text(offsets: NDArray[np.int64], data: NDArray[np.uint8], rows: NDArray[np.intp]
                ) -> tuple[NDArray[np.int64], NDArray[np.uint8], bool]:
    """The values at `rows` of text stored as pyarrow offsets and bytes, as new offsets and bytes
    (`stage_tools.take_rows`); False (and nothing gathered) when a row is out of range."""
    n = offsets.size - 1
    out_offsets = np.empty(rows.size + 1, dtype=np.int64)
    out_offsets[0] = 0
    for i in range(rows.size):
        row = rows[i]
        if row < 0 or row >= n:
            return out_offsets[:1], np.empty(0, dtype=np.uint8), False
        out_offsets[i + 1] = out_offsets[i] + offsets[row + 1] - offsets[row]
    out_data = np.empty(out_offsets[rows.size], dtype=np.uint8)
    for i in range(rows.size):
        start = offsets[rows[i]]
        out_data[out_offsets[i]:out_offsets[i + 1]] = data[start:start + out_offsets[i + 1] - out_offsets[i]]
    return out_offsets, out_data, True


@nb.njit(cache=True, nogil=True)
def single_letters(offsets: NDArray[np.int64], data: NDArray[np.uint8], first: int, second: int
                   ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """For text stored as pyarrow offsets and bytes: whether each value is exactly the one byte
    `first`, and whether it is exactly `second` (`stage_tools.letter_masks`)."""
    n = offsets.size - 1
    a = np.zeros(n, dtype=np.bool_)
    b = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        if offsets[i + 1] - offsets[i] == 1:
            byte = data[offsets[i]]
            a[i] = byte == first
            b[i] = byte == second
    return a, b


@nb.njit(cache=True, nogil=True, error_model="numpy")
def d1_terms(log_moneyness: NDArray[np.float64], years: NDArray[np.float64], vol: NDArray[np.float64]
             ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Black-76's sd = vol * sqrt(T) and d1 = (ln(F/K) + 0.5 * sd * sd) / sd (`black76._d1_d2`), with
    -d1 and -0.5 * d1 * d1 (the argument of the normal density's exp): (sd, d1, -d1, exponent)."""
    n = years.size
    sd = np.empty(n)
    d1 = np.empty(n)
    minus_d1 = np.empty(n)
    exponent = np.empty(n)
    for i in range(n):
        s = vol[i] * math.sqrt(years[i])
        d = (log_moneyness[i] + 0.5 * s * s) / s
        sd[i] = s
        d1[i] = d
        minus_d1[i] = -d
        exponent[i] = -0.5 * d * d
    return sd, d1, minus_d1, exponent


@nb.njit(cache=True, nogil=True, error_model="numpy")
def delta_gamma_from(df: NDArray[np.float64], density_exp: NDArray[np.float64], forward: float,
                     sd: NDArray[np.float64], cdf_d1: NDArray[np.float64], cdf_minus_d1: NDArray[np.float64],
                     is_call: NDArray[np.bool_], inv_sqrt_2pi: float
                     ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """`black76.delta_gamma` from its transcendental parts: gamma = df * (inv_sqrt_2pi *
    exp(-d1^2/2)) / (F * sd); delta = df * N(d1) for calls, -df * N(-d1) for puts."""
    n = sd.size
    delta = np.empty(n)
    gamma = np.empty(n)
    for i in range(n):
        gamma[i] = df[i] * (inv_sqrt_2pi * density_exp[i]) / (forward * sd[i])
        delta[i] = df[i] * cdf_d1[i] if is_call[i] else -df[i] * cdf_minus_d1[i]
    return delta, gamma


@nb.njit(cache=True, nogil=True, error_model="numpy")
def smile_fill(ticks: NDArray[np.int64], strike: NDArray[np.float64], smile_ticks: NDArray[np.int64],
               smile_strike: NDArray[np.float64], smile_iv: NDArray[np.float64]) -> NDArray[np.float64]:
    """`greeks.smile_iv`: each (expiration, strike)'s IV from its expiration's smile (entries sorted
    by expiration ticks, then strike), linear in strike between the two strikes around it, NaN
    outside them or without a smile. The interpolation is numpy's (`np.interp`, compiled_base.c):
    the strike itself where it is one; else slope = (v[j+1] - v[j]) / (k[j+1] - k[j]) and
    slope * (x - k[j]) + v[j], or from the right end when that is NaN."""
    out = np.full(strike.size, math.nan)
    groups = 0
    for i in range(smile_ticks.size):
        if i == 0 or smile_ticks[i] != smile_ticks[i - 1]:
            groups += 1
    starts = np.empty(groups + 1, dtype=np.int64)
    g = 0
    for i in range(smile_ticks.size):
        if i == 0 or smile_ticks[i] != smile_ticks[i - 1]:
            starts[g] = i
            g += 1
    starts[groups] = smile_ticks.size
    for r in range(strike.size):
        x = strike[r]
        lo, hi = 0, groups  # the group of this row's expiration, by bisection on the groups' ticks
        while lo < hi:
            mid = (lo + hi) // 2
            if smile_ticks[starts[mid]] < ticks[r]:
                lo = mid + 1
            else:
                hi = mid
        if lo == groups or smile_ticks[starts[lo]] != ticks[r]:
            continue
        a, b = starts[lo], starts[lo + 1]
        if not (x >= smile_strike[a] and x <= smile_strike[b - 1]):
            continue
        j = a  # the last strike <= x
        while j + 1 < b and smile_strike[j + 1] <= x:
            j += 1
        if j == b - 1 or smile_strike[j] == x:
            out[r] = smile_iv[j]
            continue
        slope = (smile_iv[j + 1] - smile_iv[j]) / (smile_strike[j + 1] - smile_strike[j])
        value = slope * (x - smile_strike[j]) + smile_iv[j]
        if value != value:
            value = slope * (x - smile_strike[j + 1]) + smile_iv[j + 1]
            if value != value and smile_iv[j] == smile_iv[j + 1]:
                value = smile_iv[j]
        out[r] = value
    return out


@nb.njit(cache=True, nogil=True, error_model="numpy")
def passage_terms(log_target: NDArray[np.float64], log_entry: NDArray[np.float64], sigma: NDArray[np.float64],
                  years: NDArray[np.float64], small_time: float, terms: int, negligible: float
                  ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64],
                             NDArray[np.float64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64],
                             NDArray[np.float64], NDArray[np.bool_]]:
    """`expected_value.target_first_probability` around its logs and erfc: width = |ln(target/stop)|,
    z = |ln(entry/stop)|, spread = sigma * sqrt(np.maximum(years, 0)), tau = (spread / width)^2; the
    result so far (NaN unknown, 0 where the spread is 0); the small-time pairs (tau < small_time) and
    the others that move; for the small ones, per image term k (rows) the erfc arguments
    ((2k+1) L - z) / s and ((2k+1) L + z) / s with s = spread * sqrt(2), and whether the pair is
    still live at term k (every term up to k within `negligible` spreads)."""
    n = log_target.size
    width = np.empty(n)
    z = np.empty(n)
    spread = np.empty(n)
    tau = np.empty(n)
    out = np.full(n, math.nan)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    ns = 0
    nl = 0
    root2 = math.sqrt(2.0)
    for i in range(n):
        w = abs(log_target[i])
        zi = abs(log_entry[i])
        y = years[i]
        s = sigma[i] * math.sqrt(y if (y >= 0.0 or y != y) else 0.0)
        t = s / w
        t = t * t
        width[i], z[i], spread[i], tau[i] = w, zi, s, t
        if w != w or zi != zi or s != s:
            continue
        if s == 0:
            out[i] = 0.0
        elif s > 0:
            if t < small_time:
                small[ns] = i
                ns += 1
            else:
                large[nl] = i
                nl += 1
    small = small[:ns].copy()
    large = large[:nl].copy()
    ahead = np.empty((terms, ns))
    behind = np.empty((terms, ns))
    live = np.empty((terms, ns), dtype=np.bool_)
    for j in range(ns):
        i = small[j]
        scale = spread[i] * root2
        alive = True
        for k in range(terms):
            odd = 2.0 * k + 1.0
            a = (odd * width[i] - z[i]) / scale
            alive = alive and a < negligible
            ahead[k, j] = a
            behind[k, j] = (odd * width[i] + z[i]) / scale
            live[k, j] = alive
    return width, z, spread, tau, out, small, large, ahead, behind, live


@nb.njit(cache=True, nogil=True)
def image_sums(out: NDArray[np.float64], small: NDArray[np.int64], erfc_ahead: NDArray[np.float64],
               erfc_behind: NDArray[np.float64], live: NDArray[np.bool_]) -> None:
    """The small-time pairs' image series (`expected_value.target_first_probability`), in `out`:
    from 0, each live term's erfc(ahead) - erfc(behind) added in k order."""
    for j in range(small.size):
        total = 0.0
        for k in range(live.shape[0]):
            if live[k, j]:
                total = total + (erfc_ahead[k, j] - erfc_behind[k, j])
        out[small[j]] = total

"""Column summaries and the distances and tests computed between two of them.

A numeric column is sorted once. Its summary keeps the count of finite values, nulls and
invalid values, mean, standard deviation, range, the number of distinct values, and an
equal-weight sample of its quantile function: the exact sorted values when there are at most
:data:`GRID` of them, else the values at the :data:`GRID` mid-point quantiles
``(k + 0.5) / GRID``. Every distance between two numeric columns (Kolmogorov-Smirnov,
Wasserstein, PSI, Jensen-Shannon and chi-square over quantile bins, histograms for charts) is
then computed from those samples in ``O(GRID)``, so a reference summary stored once serves every
later comparison without reading the reference again. With more than :data:`GRID` values the
KS statistic is exact to within ``1 / GRID`` and the Wasserstein distance to within the spread
of the outermost quantile bins divided by ``GRID``.

A categorical column's summary is its value counts (the :data:`MAX_CATEGORIES` most frequent,
the rest counted together as ``other``).

The p-values use closed forms computed here with NumPy and :mod:`math` (no SciPy import on the
hot path): the Kolmogorov distribution with Stephens' small-sample correction, the chi-square
survival function through the regularized incomplete gamma function, and the normal
distribution for the two-proportion z-test. The test suite checks them against SciPy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "GRID",
    "MAX_CATEGORIES",
    "MAX_DISCRETE",
    "CategoricalSummary",
    "NumericSummary",
    "categorical_stats",
    "chi2_sf",
    "js_distance",
    "ks_pvalue",
    "missing_drift",
    "numeric_stats",
    "summarize_categories",
    "summarize_numeric",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Quantile points kept per numeric column.
GRID = 2048
#: Numeric columns with at most this many distinct values are compared as categories.
MAX_DISCRETE = 20
#: Categories kept per column in a summary; rarer ones are counted together.
MAX_CATEGORIES = 5000
#: Bins of the PSI, and of Jensen-Shannon and chi-square on numeric columns.
NUMERIC_BINS = 10
#: New categories that get a column of their own in comparisons and charts.
MAX_NEW_COLUMNS = 50
#: Floor of a bin's share in PSI, so an empty bin gives a large but finite term.
PSI_EPS = 1e-4


# -- p-values -----------------------------------------------------------------------------


def kolmogorov_sf(x: float) -> float:
    """Return ``P(K > x)`` for the Kolmogorov distribution (limit of ``sqrt(n) * D_n``)."""
    if x <= 0:
        return 1.0
    if x < 1.18:
        # P(K <= x) = sqrt(2 pi) / x * sum exp(-(2k-1)^2 pi^2 / (8 x^2)), fast for small x.
        k = np.arange(1, 8, dtype=np.float64)
        cdf = (
            math.sqrt(2 * math.pi)
            / x
            * float(np.exp(-((2 * k - 1) ** 2) * math.pi**2 / (8 * x * x)).sum())
        )
        return float(min(1.0, max(0.0, 1.0 - cdf)))
    k = np.arange(1, 101, dtype=np.float64)
    terms = 2 * (-1) ** (k - 1) * np.exp(-2 * k * k * x * x)
    return float(min(1.0, max(0.0, terms.sum())))


def ks_pvalue(d: float, n: int, m: int) -> float:
    """Return the two-sided p-value of a two-sample KS statistic ``d`` on ``n`` and ``m`` values.

    Uses the asymptotic distribution with Stephens' correction
    ``(sqrt(en) + 0.12 + 0.11 / sqrt(en)) * d``, ``en = n m / (n + m)``.
    """
    if n <= 0 or m <= 0:
        return 1.0
    en = n * m / (n + m)
    s = math.sqrt(en)
    return kolmogorov_sf((s + 0.12 + 0.11 / s) * d)


def _gammainc_lower(a: float, x: float) -> float:
    # Regularized lower incomplete gamma P(a, x) by its series (valid for x < a + 1).
    term = 1.0 / a
    total = term
    ap = a
    for _ in range(10_000):
        ap += 1
        term *= x / ap
        total += term
        if abs(term) < abs(total) * 1e-15:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gammainc_upper_cf(a: float, x: float) -> float:
    # Regularized upper incomplete gamma Q(a, x) by Lentz's continued fraction (x >= a + 1).
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi2_sf(stat: float, df: int) -> float:
    """Return ``P(X > stat)`` for a chi-square variable with ``df`` degrees of freedom."""
    if df <= 0 or stat <= 0 or not math.isfinite(stat):
        return 0.0 if stat == math.inf else 1.0
    a, x = df / 2.0, stat / 2.0
    if x < a + 1:
        return float(min(1.0, max(0.0, 1.0 - _gammainc_lower(a, x))))
    return float(min(1.0, max(0.0, _gammainc_upper_cf(a, x))))


def two_proportion_pvalue(x1: int, n1: int, x2: int, n2: int) -> float:
    """Return the two-sided p-value of the z-test that two proportions are equal."""
    if n1 <= 0 or n2 <= 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 1.0 if x1 / n1 == x2 / n2 else 0.0
    z = abs(x2 / n2 - x1 / n1) / math.sqrt(var)
    return math.erfc(z / math.sqrt(2))


# -- summaries ------------------------------------------------------------------------------


@dataclass
class NumericSummary:
    """What drift needs to know about a numeric column (see the module docstring).

    ``values``/``counts`` hold the distinct values and their counts when there are at most
    :data:`MAX_DISCRETE` of them, or, for a column summarized against a discrete reference
    (``match``), the counts of the reference's values; ``other`` then counts the rest and
    ``other_top`` names the most frequent of them.
    """

    count: int
    nulls: int
    invalid: int
    mean: float
    std: float
    min: float
    max: float
    distinct: int
    quantiles: FloatArray
    exact: bool
    integer: bool = False
    values: FloatArray | None = None
    counts: IntArray | None = None
    other: int = 0
    other_top: list[tuple[float, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Rows, counting nulls and invalid values."""
        return self.count + self.nulls + self.invalid

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form (see :meth:`from_dict`)."""
        return {
            "count": self.count,
            "nulls": self.nulls,
            "invalid": self.invalid,
            "mean": _json_float(self.mean),
            "std": _json_float(self.std),
            "min": _json_float(self.min),
            "max": _json_float(self.max),
            "distinct": self.distinct,
            "quantiles": self.quantiles.tolist(),
            "exact": self.exact,
            "integer": self.integer,
            "values": None if self.values is None else self.values.tolist(),
            "counts": None if self.counts is None else self.counts.tolist(),
            "other": self.other,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NumericSummary:
        """Rebuild a summary from :meth:`to_dict` output."""
        return cls(
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            invalid=int(data["invalid"]),
            mean=_from_json_float(data["mean"]),
            std=_from_json_float(data["std"]),
            min=_from_json_float(data["min"]),
            max=_from_json_float(data["max"]),
            distinct=int(data["distinct"]),
            quantiles=np.asarray(data["quantiles"], dtype=np.float64),
            exact=bool(data["exact"]),
            integer=bool(data.get("integer", False)),
            values=None
            if data.get("values") is None
            else np.asarray(data["values"], dtype=np.float64),
            counts=None if data.get("counts") is None else np.asarray(data["counts"], np.int64),
            other=int(data.get("other", 0)),
        )


@dataclass
class CategoricalSummary:
    """Value counts of a categorical column, most frequent first."""

    categories: list[str]
    counts: IntArray
    nulls: int
    other: int = 0
    distinct: int = 0

    @property
    def count(self) -> int:
        """Non-null rows."""
        return int(self.counts.sum()) + self.other

    @property
    def total(self) -> int:
        """Rows, counting nulls."""
        return self.count + self.nulls

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form (see :meth:`from_dict`)."""
        return {
            "categories": self.categories,
            "counts": self.counts.tolist(),
            "nulls": self.nulls,
            "other": self.other,
            "distinct": self.distinct,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CategoricalSummary:
        """Rebuild a summary from :meth:`to_dict` output."""
        return cls(
            categories=[str(c) for c in data["categories"]],
            counts=np.asarray(data["counts"], dtype=np.int64),
            nulls=int(data["nulls"]),
            other=int(data.get("other", 0)),
            distinct=int(data.get("distinct", 0)),
        )


def _json_float(x: float) -> float | None:
    return None if not math.isfinite(x) else float(x)


def _from_json_float(x: float | None) -> float:
    return math.nan if x is None else float(x)


#: Values per block when summing squared deviations (512 KiB of float64 scratch).
_STD_BLOCK = 65_536


def _std(x: FloatArray, mean: float) -> float:
    """Population standard deviation of ``x`` around its ``mean`` (``x.mean()``).

    ``np.std`` holds a full-size temporary of deviations; summing them block by block needs
    only one block of scratch memory, so a column costs its sorted copy and no more. Not
    ``np.dot``: BLAS wakes its thread pool for a dot product, which costs more than the sort.
    """
    n = len(x)
    if n <= _STD_BLOCK:
        return float(x.std())
    scratch = np.empty(_STD_BLOCK, dtype=np.float64)
    total = 0.0
    for start in range(0, n, _STD_BLOCK):
        part = x[start : start + _STD_BLOCK]
        dev = scratch[: len(part)]
        np.subtract(part, mean, out=dev)
        np.multiply(dev, dev, out=dev)
        total += float(dev.sum())
    return math.sqrt(total / n)


def summarize_numeric(
    values: FloatArray,
    *,
    invalid: int = 0,
    integer: bool = False,
    match: FloatArray | None = None,
) -> NumericSummary:
    """Sort a column once and summarize it.

    Args:
        values: The column as float64, NaN for nulls (not modified).
        invalid: Values that were not numbers before conversion (counted, not in ``values``).
        integer: Whether the column had an integer type.
        match: The distinct values of a discrete reference: count each of them.
    """
    s = np.sort(values)  # NaN sort last; infinities at the ends
    n_all = len(s)
    hi = int(np.searchsorted(s, np.nan, side="left")) if n_all and np.isnan(s[-1]) else n_all
    nan_start = hi
    nulls = max(n_all - nan_start - invalid, 0)  # non-numbers arrive as NaN too
    lo = 0
    if hi and s[0] == -np.inf:
        lo = int(np.searchsorted(s[:hi], -np.inf, side="right"))
    if hi > lo and s[hi - 1] == np.inf:
        hi = int(np.searchsorted(s[:hi], np.inf, side="left"))
    infinite = nan_start - (hi - lo)
    finite = s[lo:hi]
    n = len(finite)
    if n == 0:
        return NumericSummary(
            count=0,
            nulls=nulls,
            invalid=invalid + infinite,
            mean=math.nan,
            std=math.nan,
            min=math.nan,
            max=math.nan,
            distinct=0,
            quantiles=np.empty(0),
            exact=True,
            integer=integer,
            values=np.empty(0) if match is None else match.copy(),
            counts=np.zeros(0 if match is None else len(match), dtype=np.int64),
        )
    mean = float(finite.mean())
    std = _std(finite, mean) if n > 1 else 0.0
    changes = finite[1:] != finite[:-1]
    distinct = int(np.count_nonzero(changes)) + 1
    # Positions where a new value starts: only materialized when there are few values.
    starts = np.flatnonzero(changes) + 1 if distinct <= MAX_CATEGORIES else None
    del changes
    if n <= GRID:
        quantiles, exact = finite.copy(), True
    else:
        idx = ((np.arange(GRID, dtype=np.float64) + 0.5) * (n / GRID)).astype(np.int64)
        quantiles, exact = finite[np.minimum(idx, n - 1)], False
    summary = NumericSummary(
        count=n,
        nulls=nulls,
        invalid=invalid + infinite,
        mean=mean,
        std=std,
        min=float(finite[0]),
        max=float(finite[-1]),
        distinct=distinct,
        quantiles=quantiles,
        exact=exact,
        integer=integer,
    )
    if match is not None:
        left = np.searchsorted(finite, match, side="left")
        right = np.searchsorted(finite, match, side="right")
        summary.values = match.copy()
        summary.counts = (right - left).astype(np.int64)
        summary.other = n - int(summary.counts.sum())
        if summary.other and starts is not None:
            bounds = np.concatenate([[0], starts, [n]])
            vals, cnts = finite[bounds[:-1]], np.diff(bounds)
            new = ~np.isin(vals, match)
            order = np.argsort(-cnts[new], kind="stable")[:10]
            summary.other_top = [
                (float(v), int(c)) for v, c in zip(vals[new][order], cnts[new][order], strict=True)
            ]
    elif distinct <= MAX_DISCRETE and starts is not None:
        bounds = np.concatenate([[0], starts, [n]])
        summary.values = finite[bounds[:-1]].copy()
        summary.counts = np.diff(bounds).astype(np.int64)
    return summary


def summarize_categories(categories: list[str], counts: IntArray, nulls: int) -> CategoricalSummary:
    """Build a categorical summary from value counts, keeping the most frequent categories."""
    order = np.argsort(-counts, kind="stable")
    counts = counts[order]
    cats = [categories[i] for i in order]
    other = 0
    if len(cats) > MAX_CATEGORIES:
        other = int(counts[MAX_CATEGORIES:].sum())
        cats, counts = cats[:MAX_CATEGORIES], counts[:MAX_CATEGORIES]
    return CategoricalSummary(cats, counts.astype(np.int64), nulls, other, len(order))


# -- comparisons ----------------------------------------------------------------------------


def js_distance(p: FloatArray, q: FloatArray) -> float:
    """Return the Jensen-Shannon distance (base 2, in ``[0, 1]``) of two distributions."""
    p = p / p.sum() if p.sum() > 0 else p
    q = q / q.sum() if q.sum() > 0 else q
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log2(p / m), 0.0)
        kq = np.where(q > 0, q * np.log2(q / m), 0.0)
    jsd = 0.5 * float(kp.sum()) + 0.5 * float(kq.sum())
    return math.sqrt(max(jsd, 0.0))


def psi(p: FloatArray, q: FloatArray) -> float:
    """Return the Population Stability Index of shares ``q`` (current) against ``p``."""
    p = np.maximum(p / max(p.sum(), 1e-300), PSI_EPS)
    q = np.maximum(q / max(q.sum(), 1e-300), PSI_EPS)
    return float(np.sum((q - p) * np.log(q / p)))


def chi2_homogeneity(r: FloatArray, c: FloatArray) -> tuple[float, float]:
    """Return the chi-square statistic and p-value that two count vectors share a distribution."""
    keep = (r + c) > 0
    r, c = r[keep], c[keep]
    R, C = float(r.sum()), float(c.sum())
    if len(r) < 2 or R <= 0 or C <= 0:
        return 0.0, 1.0
    col = r + c
    er, ec = col * R / (R + C), col * C / (R + C)
    stat = float(np.sum((r - er) ** 2 / er) + np.sum((c - ec) ** 2 / ec))
    return stat, chi2_sf(stat, len(r) - 1)


def _sorted_quantile(q: FloatArray, p: float) -> float:
    # Linear interpolation on an already sorted sample (np.quantile would sort it again).
    pos = p * (len(q) - 1)
    i = int(pos)
    j = min(i + 1, len(q) - 1)
    return float(q[i] + (q[j] - q[i]) * (pos - i))


def _shares(q: FloatArray, edges: FloatArray) -> FloatArray:
    # Share of an equal-weight sample in each bin (-inf, e1], (e1, e2], ..., (ek, inf).
    cut = np.searchsorted(q, edges, side="right")
    counts = np.diff(np.concatenate([[0], cut, [len(q)]]))
    return counts / max(len(q), 1)


def numeric_stats(
    ref: NumericSummary, cur: NumericSummary, extra: frozenset[str] = frozenset()
) -> dict[str, float]:
    """Return KS, its p-value and the normalized Wasserstein distance, plus any ``extra``.

    ``extra`` may name ``"psi"``, ``"jensenshannon"`` and ``"chisquare"`` (over
    :data:`NUMERIC_BINS` quantile bins of the reference).
    """
    qa, qb = ref.quantiles, cur.quantiles
    merged = np.concatenate([qa, qb])
    merged.sort()
    fa = np.searchsorted(qa, merged, side="right") / len(qa)
    fb = np.searchsorted(qb, merged, side="right") / len(qb)
    gap = np.abs(fa - fb)
    ks = float(gap.max())
    w1 = float(np.sum(gap[:-1] * np.diff(merged)))
    scale = ref.std if ref.std > 0 else (cur.std if cur.std > 0 else abs(ref.mean) or 1.0)
    out = {
        "ks": ks,
        "ks_p_value": ks_pvalue(ks, ref.count, cur.count),
        "wasserstein": w1 / scale,
        "wasserstein_raw": w1,
    }
    if extra & {"psi", "jensenshannon", "chisquare"}:
        edges = np.unique([_sorted_quantile(qa, k / NUMERIC_BINS) for k in range(1, NUMERIC_BINS)])
        pa, pb = _shares(qa, edges), _shares(qb, edges)
        out["psi"] = psi(pa, pb)
        out["jensenshannon"] = js_distance(pa, pb)
        out["chisquare"], out["chisquare_p_value"] = chi2_homogeneity(
            pa * ref.count, pb * cur.count
        )
    return out


def aligned_counts(
    ref: CategoricalSummary | NumericSummary, cur: CategoricalSummary | NumericSummary
) -> tuple[list[str], FloatArray, FloatArray, list[tuple[str, int]]]:
    """Line up the category counts of two summaries.

    Returns:
        The category labels, the reference and current counts in that order (an ``other``
        bucket last when either side has one), and the current's categories unseen in the
        reference with their counts, most frequent first.
    """
    ref_labels, ref_counts, ref_other = _labels(ref)
    cur_labels, cur_counts, cur_other = _labels(cur)
    index = {label: i for i, label in enumerate(ref_labels)}
    r = np.zeros(len(ref_labels) + 1)
    c = np.zeros(len(ref_labels) + 1)
    r[: len(ref_labels)] = ref_counts
    r[-1] = ref_other
    new: list[tuple[str, int]] = []
    for label, count in zip(cur_labels, cur_counts.tolist(), strict=True):
        i = index.get(label)
        if i is not None:
            c[i] += count
        else:
            c[-1] += count
            if not ref_other:
                new.append((label, int(count)))
    c[-1] += cur_other
    if isinstance(cur, NumericSummary) and cur.other and not ref_other:
        new = [(_fmt_number(v), n) for v, n in cur.other_top] or [("(other values)", cur.other)]
    new.sort(key=lambda t: -t[1])
    labels = [*ref_labels, "(other)"]
    # The most frequent new categories get columns of their own (the reference's count is 0),
    # so charts name them and chi-square counts each; the rest stay in "(other)".
    own = [(label, n) for label, n in new[:MAX_NEW_COLUMNS] if label != "(other values)"]
    if own:
        moved = float(sum(n for _, n in own))
        labels = [*ref_labels, *(label for label, _ in own), "(other)"]
        r = np.concatenate([r[:-1], np.zeros(len(own)), r[-1:]])
        c = np.concatenate([c[:-1], [float(n) for _, n in own], [c[-1] - moved]])
    return labels, r, c, new


def _labels(summary: CategoricalSummary | NumericSummary) -> tuple[list[str], FloatArray, int]:
    if isinstance(summary, CategoricalSummary):
        return summary.categories, summary.counts.astype(np.float64), summary.other
    values = summary.values if summary.values is not None else np.empty(0)
    counts = summary.counts if summary.counts is not None else np.zeros(0, dtype=np.int64)
    return [_fmt_number(v) for v in values.tolist()], counts.astype(np.float64), summary.other


def _fmt_number(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def categorical_stats(
    r: FloatArray, c: FloatArray, extra: frozenset[str] = frozenset()
) -> dict[str, float]:
    """Return Jensen-Shannon distance and chi-square (statistic, p-value), plus PSI if asked."""
    out = {"jensenshannon": js_distance(r, c)}
    out["chisquare"], out["chisquare_p_value"] = chi2_homogeneity(r, c)
    if "psi" in extra:
        out["psi"] = psi(r, c)
    return out


def missing_drift(
    ref_missing: int, ref_total: int, cur_missing: int, cur_total: int, alpha: float
) -> dict[str, Any]:
    """Compare the share of missing values: Cohen's h as the effect, a z-test for significance.

    Drifted when ``|h| >= 0.2`` (Cohen's "small" effect) and ``p < alpha``, so, like the
    distribution tests, the verdict does not depend on the sample size.
    """
    a = ref_missing / ref_total if ref_total else 0.0
    b = cur_missing / cur_total if cur_total else 0.0
    h = abs(2 * math.asin(math.sqrt(b)) - 2 * math.asin(math.sqrt(a)))
    p = two_proportion_pvalue(ref_missing, ref_total, cur_missing, cur_total)
    return {
        "reference_share": a,
        "current_share": b,
        "effect": h,
        "p_value": p,
        "drifted": bool(h >= 0.2 and p < alpha),
    }


def histogram(ref: NumericSummary, cur: NumericSummary, bins: int = 30) -> dict[str, Any]:
    """Return common bins and the share of each side in them, for a chart."""
    qa, qb = ref.quantiles, cur.quantiles
    both = [q for q in (qa, qb) if len(q)]
    if not both:
        return {"kind": "hist", "edges": [], "reference": [], "current": []}
    lo = min(_sorted_quantile(q, 0.005) for q in both)
    hi = max(_sorted_quantile(q, 0.995) for q in both)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)

    def shares(q: FloatArray) -> list[float]:
        if not len(q):
            return [0.0] * bins
        idx = np.clip(np.searchsorted(edges, q, side="right") - 1, 0, bins - 1)
        shares: list[float] = (np.bincount(idx, minlength=bins) / len(q)).tolist()
        return shares

    return {
        "kind": "hist",
        "edges": edges.tolist(),
        "reference": shares(qa),
        "current": shares(qb),
    }


def bars(labels: list[str], r: FloatArray, c: FloatArray, top: int = 12) -> dict[str, Any]:
    """Return the shares of the most frequent categories of either side, for a chart."""
    pr = r / r.sum() if r.sum() > 0 else r
    pc = c / c.sum() if c.sum() > 0 else c
    keep = [i for i in np.argsort(-np.maximum(pr, pc), kind="stable") if pr[i] > 0 or pc[i] > 0]
    shown = keep[:top]
    out_labels = [labels[i] for i in shown]
    ref_shares = [float(pr[i]) for i in shown]
    cur_shares = [float(pc[i]) for i in shown]
    if len(keep) > top:
        out_labels.append("(rest)")
        ref_shares.append(float(pr[keep[top:]].sum()))
        cur_shares.append(float(pc[keep[top:]].sum()))
    return {"kind": "bars", "labels": out_labels, "reference": ref_shares, "current": cur_shares}

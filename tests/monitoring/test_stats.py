"""The statistics agree with SciPy and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
from scipy import special
from sklearn import metrics

import keel.monitoring as km
from keel.errors import InvalidArgumentError
from keel.monitoring import _stats


@pytest.mark.parametrize(
    ("stat", "df"),
    [(0.001, 3), (0.5, 1), (3.0, 4), (10.0, 4), (50.0, 10), (200.0, 150), (1000.0, 5)],
)
def test_chi2_survival_matches_scipy(stat: float, df: int) -> None:
    assert _stats.chi2_sf(stat, df) == pytest.approx(special.chdtrc(df, stat), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(
    ("d", "n", "m"), [(0.05, 1000, 1000), (0.1, 1000, 800), (0.2, 50, 60), (0.01, 100_000, 100_000)]
)
def test_ks_pvalue_is_close_to_scipy(d: float, n: int, m: int) -> None:
    assert _stats.ks_pvalue(d, n, m) == pytest.approx(
        st.kstwo.sf(d, round(n * m / (n + m))), rel=0.05
    )


@pytest.mark.parametrize(("n", "m"), [(500, 700), (5_000, 3_000), (200_000, 150_000)])
def test_ks_and_wasserstein_match_scipy_on_the_full_samples(n: int, m: int) -> None:
    rng = np.random.default_rng(n)
    a, b = rng.lognormal(0, 1, n), rng.lognormal(0.2, 1.1, m)
    stats = _stats.numeric_stats(_stats.summarize_numeric(a), _stats.summarize_numeric(b))
    exact = n <= _stats.GRID and m <= _stats.GRID
    tol = 1e-12 if exact else 2 / _stats.GRID
    assert stats["ks"] == pytest.approx(st.ks_2samp(a, b).statistic, abs=tol)
    w = st.wasserstein_distance(a, b) / a.std()
    assert stats["wasserstein"] == pytest.approx(w, rel=1e-9 if exact else 0.01)


def test_js_distance_and_psi() -> None:
    from scipy.spatial.distance import jensenshannon

    p, q = np.array([40.0, 30, 20, 10]), np.array([25.0, 25, 25, 25])
    assert _stats.js_distance(p, q) == pytest.approx(jensenshannon(p, q, base=2))
    pp, qq = p / p.sum(), q / q.sum()
    assert _stats.psi(p, q) == pytest.approx(float(np.sum((qq - pp) * np.log(qq / pp))))
    stat, pvalue = _stats.chi2_homogeneity(p * 10, q * 10)
    expected = st.chi2_contingency(np.vstack([p * 10, q * 10]))
    assert (stat, pvalue) == pytest.approx((expected[0], expected[1]))


def test_classification_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    score = np.clip(0.3 * y + 0.7 * rng.random(500), 0, 1)
    score[::7] = 0.5  # ties
    pred = (score >= 0.5).astype(int)
    got = km.model_performance(y, pred, scores=score)
    assert got["accuracy"] == pytest.approx(metrics.accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(metrics.precision_score(y, pred))
    assert got["recall"] == pytest.approx(metrics.recall_score(y, pred))
    assert got["f1"] == pytest.approx(metrics.f1_score(y, pred))
    assert got["roc_auc"] == pytest.approx(metrics.roc_auc_score(y, score))
    assert km.model_performance(y, score) == got  # scores as predictions: cut at 0.5
    y3 = rng.integers(0, 3, 300)
    p3 = np.where(rng.random(300) < 0.7, y3, rng.integers(0, 3, 300))
    got3 = km.model_performance(y3, p3)
    assert got3["f1"] == pytest.approx(metrics.f1_score(y3, p3, average="macro"))
    assert got3["precision"] == pytest.approx(metrics.precision_score(y3, p3, average="macro"))


def test_regression_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=200)
    p = y + rng.normal(0, 0.3, 200)
    got = km.model_performance(y, p)
    assert got["mae"] == pytest.approx(metrics.mean_absolute_error(y, p))
    assert got["rmse"] == pytest.approx(np.sqrt(metrics.mean_squared_error(y, p)))
    assert got["r2"] == pytest.approx(metrics.r2_score(y, p))


def test_performance_bad_input() -> None:
    with pytest.raises(
        InvalidArgumentError, match=r"1-D and of one length, got shapes \(3,\) and \(2,\)"
    ):
        km.model_performance([1, 0, 1], [1, 0])
    with pytest.raises(InvalidArgumentError, match=r"no labeled predictions"):
        km.model_performance([], [])
    with pytest.raises(
        InvalidArgumentError, match=r"Unknown performance metric 'rocauc'.*'roc_auc'"
    ):
        km.performance("rocauc", min=0.8)
    with pytest.raises(InvalidArgumentError, match=r"needs a bound"):
        km.performance("f1")


@pytest.mark.parametrize("n", [2, 1000, _stats._STD_BLOCK + 1, 3 * _stats._STD_BLOCK + 17])
def test_blockwise_std_matches_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for x in (rng.normal(5.0, 2.0, n), rng.lognormal(3.0, 1.0, n), 1e9 + rng.normal(0, 1e-3, n)):
        assert _stats._std(x, float(x.mean())) == pytest.approx(float(x.std()), rel=1e-12)
    summary = _stats.summarize_numeric(rng.normal(0.0, 3.0, n))
    assert summary.std > 0

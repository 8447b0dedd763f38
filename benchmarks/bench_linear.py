"""vecsmith.linear beside Vowpal Wabbit (in-process) and scikit-learn SGDClassifier.

Same features for every learner: character 1–4-grams of " " + word + " " (scikit-learn's
``char_wb``), hashed into 2^18 weights, one pass unless stated. Timings are end-to-end
(featurising included) and measured in one run; VW and vecsmith times are the best of 3
runs each, because the box is shared and noise only ever adds time. Read the ratios.

  0. featurising alone (the parse kernel), ns per sample (`--parse-only` stops there);
  1. word → language, English vs German (wordfreq; 100k train / 20k test words);
  2. the same over 8 languages (one-vs-rest);
  3. a drift stream whose labelling flips halfway: progressive accuracy over time
     (PNG: benchmarks/out/linear_drift.png, copied to docs/img/linear_drift.png);
  4. a synthetic stream (250,000 features, 25 per sample; 10M samples, 1M with --quick):
     samples/s, features/s and resident memory.

Run:  .venv/bin/python benchmarks/bench_linear.py [--quick] [--parse-only]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np

from vecsmith import datasets

OUT = Path(__file__).resolve().parent / "out"
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
LANGS8 = ["en", "de", "fr", "es", "it", "nl", "pt", "sv"]
REPEATS = 3


def char_wb(word: str, lo: int = 1, hi: int = 4) -> list[str]:
    """scikit-learn's char_wb n-grams of one word (the features every learner gets)."""
    w = f" {word} "
    out = []
    for n in range(lo, hi + 1):
        if len(w) <= n:
            out.append(w)
            break
        out.extend(w[i:i + n] for i in range(len(w) - n + 1))
    return out


def vw_line(word: str, label=None) -> str:
    # VW reserves ' ', ':' and '|': map them (the pad space becomes '_')
    feats = " ".join(g.replace(" ", "_").replace(":", ";").replace("|", "!")
                     for g in char_wb(word))
    return f"{label} | {feats}" if label is not None else f"| {feats}"


def language_words(langs: list[str], per_lang: int, seed: int = 0):
    """Words unique to one language among `langs` (most frequent first), shuffled."""
    words, labels = datasets.language_words(langs, per_lang, seed, keep=lambda w: "\n" not in w)
    return words, np.asarray(labels)


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


# --------------------------------------------------------------------------- learners


def run_vecsmith(Xtr, ytr, Xte, yte, **kw):
    from vecsmith.linear import OnlineLinearClassifier

    clf = OnlineLinearClassifier(ngram_range=(1, 4), **kw)
    t, c = time.perf_counter(), time.process_time()
    clf.fit(Xtr, ytr)
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    pred = clf.predict(Xte)
    pred_s = time.perf_counter() - t
    return float(np.mean(pred == yte)), train_s, pred_s, train_cpu


def run_vw(Xtr, ytr, Xte, yte, classes, opts="", passes=1):
    from vowpalwabbit import Workspace

    multi = len(classes) > 2
    code = {c: (i + 1 if multi else (1 if i == 1 else -1)) for i, c in enumerate(classes)}
    kind = f"--oaa {len(classes)}" if multi else "--binary"
    base = f"--quiet -b 18 --loss_function hinge {kind}"
    vw = Workspace(f"{base} {opts}".strip())
    t, c = time.perf_counter(), time.process_time()
    for _ in range(passes):
        for w, lab in zip(Xtr, ytr):
            vw.learn(vw_line(w, code[lab]))
    train_s, train_cpu = time.perf_counter() - t, time.process_time() - c
    t = time.perf_counter()
    raw = [vw.predict(vw_line(w)) for w in Xte]
    pred_s = time.perf_counter() - t
    vw.finish()
    if multi:
        pred = np.asarray(classes)[np.asarray(raw, dtype=np.int64) - 1]
    else:
        pred = np.asarray(classes)[(np.asarray(raw) > 0).astype(np.int64)]
    return float(np.mean(pred == yte)), train_s, pred_s, train_cpu


def run_sklearn(Xtr, ytr, Xte, yte, epochs=5):
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import SGDClassifier

    hv = HashingVectorizer(analyzer="char_wb", ngram_range=(1, 4), n_features=2**18,
                           alternate_sign=False, norm=None)
    t, c = time.perf_counter(), time.process_time()
    A = hv.transform(Xtr)
    feat_s = time.perf_counter() - t
    clf = SGDClassifier(loss="hinge", max_iter=epochs, tol=None, random_state=0)
    t = time.perf_counter()
    clf.fit(A, ytr)
    fit_s = time.perf_counter() - t
    cpu = time.process_time() - c
    t = time.perf_counter()
    pred = clf.predict(hv.transform(Xte))
    pred_s = time.perf_counter() - t
    return float(np.mean(pred == yte)), feat_s + fit_s, pred_s, cpu, feat_s


def classification(name, langs, n_train, n_test, results):
    words, labels = language_words(langs, (n_train + n_test) // len(langs) + 1)
    Xtr, ytr = words[:n_train], labels[:n_train]
    Xte, yte = words[n_train:n_train + n_test], labels[n_train:n_train + n_test]
    classes = sorted(set(langs))
    rows = []

    def best(fn, *a, **kw):
        """Min times over REPEATS runs (the box is shared; noise only ever adds time)."""
        runs = [fn(*a, **kw) for _ in range(REPEATS)]
        return (runs[0][0], *(min(r[i] for r in runs) for i in (1, 2, 3)))

    rows.append(("VW 9 hinge, 1 pass (default adaptive+normalized)",
                 *best(run_vw, Xtr, ytr, Xte, yte, classes)))
    vw_train, vw_cpu = rows[0][2], rows[0][4]
    rows.append(("VW hinge, 2 passes (in-process loop, one run)",
                 *run_vw(Xtr, ytr, Xte, yte, classes, passes=2)))
    acc, tr, pr, cpu, feat = run_sklearn(Xtr, ytr, Xte, yte)
    rows.append((f"sklearn SGDClassifier hinge, 5 epochs (featurise {feat:.2f} s; one run)",
                 acc, tr, pr, cpu))
    for label, kw in [("vecsmith hinge, adaptive, 1 pass", {}),
                      ("vecsmith hinge, adaptive, 2 passes", {"max_iter": 2}),
                      ("vecsmith logistic, adaptive, 1 pass", {"loss": "logistic"}),
                      ("vecsmith hinge, exact lookup, 1 pass", {"lookup": True})]:
        rows.append((label, *best(run_vecsmith, Xtr, ytr, Xte, yte, **kw)))
    print(f"\n### {name}: {len(Xtr)} train / {len(Xte)} test words\n")
    print("| learner | accuracy | train s (wall) | train words/s | predict words/s | "
          "train speed vs VW (wall) | train CPU s | vs VW (CPU) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, acc, tr, pr, cpu in rows:
        print(f"| {label} | {acc:.4f} | {tr:.2f} | {rate(len(Xtr), tr):,.0f} | "
              f"{rate(len(Xte), pr):,.0f} | {vw_train / tr:.2f}x | {cpu:.2f} | "
              f"{vw_cpu / cpu:.2f}x |")
    results[name] = [dict(learner=r[0], accuracy=r[1], train_s=r[2], predict_s=r[3],
                          train_cpu_s=r[4], n_train=len(Xtr), n_test=len(Xte)) for r in rows]


# --------------------------------------------------------------------------- drift


def drift(n: int, results, window: int = 1000, publish: bool = True):
    from vowpalwabbit import Workspace

    from vecsmith.linear import OnlineLinearClassifier

    words, labels = language_words(["en", "de"], n // 2 + 1, seed=1)
    words, labels = words[:n], labels[:n]
    y = (labels == "en").astype(np.int64)
    y[n // 2:] = 1 - y[n // 2:]  # the labelling flips halfway
    curves: dict[str, np.ndarray] = {}
    for label, kw in [("vecsmith constant (eta0=0.05)", dict(learning_rate="constant",
                                                              eta0=0.05)),
                      ("vecsmith invscaling", dict(learning_rate="invscaling", eta0=0.5)),
                      ("vecsmith adaptive", {}),
                      ("vecsmith adaptive + floor 0.05", dict(eta_floor=0.05))]:
        clf = OnlineLinearClassifier(ngram_range=(1, 4), **kw)
        prog = clf.progressive_fit(words, y, classes=[0, 1])
        curves[label] = (prog.predictions == y).astype(float)
    for label, opts in [("VW default", ""), ("VW --power_t 0", "--power_t 0")]:
        vw = Workspace(f"--quiet -b 18 --loss_function hinge --binary {opts}".strip())
        ok = np.empty(n)
        for i, (w, lab) in enumerate(zip(words, y)):
            line = vw_line(w, 1 if lab else -1)
            ok[i] = (vw.predict(line) > 0) == bool(lab)
            vw.learn(line)
        vw.finish()
        curves[label] = ok
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import SGDClassifier

    hv = HashingVectorizer(analyzer="char_wb", ngram_range=(1, 4), n_features=2**18,
                           alternate_sign=False, norm=None)
    A = hv.transform(words)
    sgd = SGDClassifier(loss="hinge", random_state=0)
    ok = np.empty(n)
    mb = 100
    for lo in range(0, n, mb):
        hi = min(n, lo + mb)
        ok[lo:hi] = (sgd.predict(A[lo:hi]) == y[lo:hi]) if lo else 0.5
        sgd.partial_fit(A[lo:hi], y[lo:hi], classes=[0, 1])
    curves["sklearn partial_fit (batches of 100)"] = ok
    print(f"\n### Drift: {n} en/de words, labels flip at {n // 2}; progressive accuracy\n")
    k = min(2000, n // 4)
    print(f"| learner | first half | second half | {k} right after the flip | last quarter |")
    print("|---|---|---|---|---|")
    summary = {}
    for label, c in curves.items():
        a, b, q = c[: n // 2].mean(), c[n // 2:].mean(), c[3 * n // 4:].mean()
        r = c[n // 2:n // 2 + k].mean()
        summary[label] = dict(first_half=a, second_half=b, after_flip=r, last_quarter=q)
        print(f"| {label} | {a:.4f} | {b:.4f} | {r:.4f} | {q:.4f} |")
    results["drift"] = summary
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover
        return
    fig, ax = plt.subplots(figsize=(7.5, 3.8), dpi=90)
    kernel = np.ones(window) / window
    x = np.arange(window - 1, n)
    for label, c in curves.items():
        style = "-" if label.startswith("vecsmith") else "--"
        ax.plot(x, np.convolve(c, kernel, mode="valid"), style, label=label, linewidth=1.3)
    ax.axvline(n // 2, color="grey", linewidth=0.8)
    ax.set_xlabel("examples seen")
    ax.set_ylabel(f"progressive accuracy ({window}-example window)")
    ax.set_title("Labelling flips halfway: who follows the drift?")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    OUT.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT / "linear_drift.png")
    plt.close(fig)
    print(f"\nplot: {OUT / 'linear_drift.png'}")
    if publish:  # only the full-size run replaces the README figure
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(OUT / "linear_drift.png", DOCS_IMG / "linear_drift.png")
        print("(copied to docs/img/linear_drift.png)")


# --------------------------------------------------------------------------- scale


def scale(n: int, results, d: int = 250_000, per: int = 25, chunk: int = 200_000):
    import psutil
    import scipy.sparse as sp

    from vecsmith.linear import OnlineLinearClassifier

    proc = psutil.Process()
    rng = np.random.default_rng(0)
    true_w = rng.normal(size=d).astype(np.float32)
    clf = OnlineLinearClassifier()
    warm = sp.csr_matrix(np.ones((2, d), np.float32))
    OnlineLinearClassifier().partial_fit(warm, [0, 1], classes=[0, 1])  # compile
    rss0 = proc.memory_info().rss
    peak = rss0
    train_s = 0.0
    gen_s = 0.0
    last_acc = 0.0
    nnz = 0
    classes = [0, 1]
    for lo in range(0, n, chunk):
        m = min(chunk, n - lo)
        t = time.perf_counter()
        # Zipf-like feature popularity, as in real sparse data
        idx = np.minimum((rng.pareto(1.2, size=(m, per)) * 2000).astype(np.int64), d - 1)
        idx = np.sort(idx, axis=1)
        score = true_w[idx].sum(axis=1) + rng.normal(scale=1.0, size=m)
        y = (score > 0).astype(np.int64)
        X = sp.csr_matrix((np.ones(m * per, np.float32), idx.ravel(),
                           np.arange(0, m * per + 1, per)), shape=(m, d))
        gen_s += time.perf_counter() - t
        t = time.perf_counter()
        prog = clf.progressive_fit(X, y, classes=classes)
        train_s += time.perf_counter() - t
        classes = None
        nnz += X.nnz
        last_acc = prog.accuracy
        peak = max(peak, proc.memory_info().rss)
        if lo == 0:
            first_peak = peak
    t = time.perf_counter()
    clf.decision_function(X)  # batch prediction on the last chunk (already featurised)
    pred_rate = rate(X.shape[0], time.perf_counter() - t)
    print(f"\n### Synthetic stream: {n:,} samples, {d:,} features, {per} per sample\n")
    print("| samples/s | features/s | train s | progressive accuracy, last chunk | "
          "RSS growth during the stream | of which after the first chunk |")
    print("|---|---|---|---|---|---|")
    print(f"| {rate(n, train_s):,.0f} | {rate(nnz, train_s):,.0f} | {train_s:.1f} | "
          f"{last_acc:.4f} | {(peak - rss0) / 2**20:.0f} MiB (peak RSS {peak / 2**20:.0f} MiB) | "
          f"{(peak - first_peak) / 2**20:.0f} MiB |")
    print(f"(data generation, not counted: {gen_s:.1f} s; batch prediction on CSR rows: "
          f"{pred_rate:,.0f} samples/s)")
    results["scale"] = dict(n=n, features=d, per_sample=per, train_s=train_s, nnz=nnz,
                            last_chunk_accuracy=last_acc, rss_growth_mib=(peak - rss0) / 2**20,
                            peak_rss_mib=peak / 2**20, predict_per_s=pred_rate,
                            growth_after_first_chunk_mib=(peak - first_peak) / 2**20)


def parse_speed(n: int, results) -> None:
    """Featurising alone (the parse kernel): VW lines with a cross, in hashed and lookup mode,
    and words into character 1-4-grams; CPU time per sample, best of REPEATS."""
    from vecsmith.linear import Featurizer

    rng = np.random.default_rng(0)
    texts = [f"|a t{rng.integers(1000)} u{rng.integers(90)}:0.5 w{rng.integers(5000)} "
             f"|b v{rng.integers(2000)} x{rng.integers(50)}" for _ in range(n)]
    words = [f"w{rng.integers(10**6)}abc" for _ in range(n)]
    cases = [("VW, hashed, -q ab", dict(bits=20, cross=["ab"]), texts),
             ("VW, lookup, -q ab", dict(lookup=True, cross=["ab"]), texts),
             ("words, char 1-4-grams", dict(bits=20, ngram_range=(1, 4)), words)]
    print(f"\n== featurising {n} samples (CPU time, best of {REPEATS})")
    out = {}
    for name, kw, data in cases:
        Featurizer(**kw).transform_texts(data[:100], grow=True)  # compile or load from cache
        best = float("inf")
        for _ in range(REPEATS):
            f = Featurizer(**kw)
            t0 = time.process_time()
            f.transform_texts(data, grow=True)
            best = min(best, time.process_time() - t0)
        out[name] = best / n * 1e9
        print(f"  {name:24s} {out[name]:7.0f} ns/sample")
    results["parse_ns_per_sample"] = out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, under a minute")
    ap.add_argument("--parse-only", action="store_true",
                    help="only time featurising (200k samples per input kind)")
    ap.add_argument("--scale-samples", type=int, default=None,
                    help="samples in the synthetic stream (default 10M, 500k with --quick)")
    args = ap.parse_args()
    q = args.quick
    global REPEATS
    REPEATS = 2 if q else 3
    # warm the numba kernels (compiled once, then cached on disk)
    from vecsmith.linear import OnlineLinearClassifier

    t = time.perf_counter()
    OnlineLinearClassifier(ngram_range=(1, 4)).fit(["ab", "cd"], [0, 1]).predict(["ab"])
    OnlineLinearClassifier(ngram_range=(1, 4)).fit(["ab", "cd", "ef"], [0, 1, 2])
    OnlineLinearClassifier(ngram_range=(1, 4), lookup=True).fit(["ab", "cd"], [0, 1])
    print(f"numba warm-up (compile or load from cache): {time.perf_counter() - t:.1f} s")
    print(f"machine: {os.cpu_count()} CPUs (shared with other jobs; read the ratios)")
    results: dict = {}
    parse_speed(200_000, results)
    if args.parse_only:
        return
    classification("English vs German", ["en", "de"], 20_000 if q else 100_000,
                   5_000 if q else 20_000, results)
    classification("8 languages", LANGS8, 20_000 if q else 100_000, 5_000 if q else 20_000,
                   results)
    drift(10_000 if q else 40_000, results, publish=not q)
    scale(args.scale_samples or (500_000 if q else 10_000_000), results)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "linear_results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

"""compress-fasttext against `vecsmith compress` at matched file sizes, on one real model.

The model: the official fastText 0.9.2 trained here (cbow, dim 300, minn = maxn = 5, 2M
buckets: the `cc.*.300` settings; minCount 5, 5 epochs, 2 threads) on the largest English text
found in registry packages: Debian's `dict-gcide` (GCIDE, the Collaborative International
Dictionary of English, 0.48.5) and `dict-wn` (WordNet 3.0 glosses), both dictzip files that
gzip reads: 275k entries, 9.0M tokens after cleaning (lower case; pronunciations and source
tags removed). One entry in 20 (chosen by a hash of its text) is held out and never trained on:
its distinct words the model knows, their token counts, and its words the model does not know
(OOV) are the measures' word lists. Install: `apt-get install dict-gcide dict-wn`.

Measures, against the uncompressed model: mean cosine over the held-out text's distinct known
words (compress-fasttext's own measure), the same weighted by tokens, and over held-out OOV
words (through n-grams); SimLex-999 Spearman and the analogy questions (gensim's copies, lower
cased), top-10 neighbour overlap with the original, file size (every file a tool writes),
compression time, open time, RSS after open, OOV lookup speed.

    python benchmarks/bench_compress.py [--quick] [--cache DIR] [--train-only]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from vecsmith.datasets import gensim_test_file

DICTS = ("/usr/share/dictd/gcide.dict.dz", "/usr/share/dictd/wn.dict.dz")
TOKEN = re.compile(r"[a-z0-9]+(?:['\-][a-z0-9]+)*")
MARKUP = re.compile(r"\\[^\\\n]*\\"  # pronunciations
                    r"|\[(?:1913 Webster|PJC|Webster 1913 Suppl\.|WordNet 1\.5|RH)[^\]]*\]")


def _entries(path: str) -> list[str]:
    """dictd entries: a line starting in column 0 opens one (the headword)."""
    out, cur = [], []
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line[:1].strip() and cur:
                out.append("".join(cur))
                cur = []
            cur.append(line)
    if cur:
        out.append("".join(cur))
    return [e for e in out if not e.startswith("00-database")]


def corpus_parts(cache: Path) -> tuple[Path, Path]:
    """(train.txt, held.txt): one cleaned entry a line; 1 entry in 20 held out."""
    train, held = cache / "train.txt", cache / "held.txt"
    if train.exists() and held.exists():
        return train, held
    missing = [p for p in DICTS if not os.path.exists(p)]
    if missing:
        sys.exit(f"missing {missing}: apt-get install dict-gcide dict-wn")
    parts: tuple[list[str], list[str]] = ([], [])
    for path in DICTS:
        for e in _entries(path):
            line = " ".join(TOKEN.findall(MARKUP.sub(" ", e).lower()))
            if line:
                parts[hashlib.blake2b(line.encode(), digest_size=2).digest()[0] % 20 == 0] \
                    .append(line)
    train.write_text("\n".join(parts[0]) + "\n", encoding="utf-8")
    held.write_text("\n".join(parts[1]) + "\n", encoding="utf-8")
    return train, held


def train_model(cache: Path, quick: bool) -> Path:
    out = cache / ("cbow300q.bin" if quick else "cbow300.bin")
    if out.exists():
        return out
    import fasttext

    train, _ = corpus_parts(cache)
    if quick:  # a tenth of the text, to check the script
        lines = train.read_text(encoding="utf-8").splitlines()
        train = cache / "train_quick.txt"
        train.write_text("\n".join(lines[::10]) + "\n", encoding="utf-8")
    t = time.perf_counter()
    m = fasttext.train_unsupervised(str(train), model="cbow", dim=300, minn=5, maxn=5,
                                    bucket=200_000 if quick else 2_000_000, minCount=5,
                                    epoch=1 if quick else 5, thread=2, verbose=0)
    m.save_model(str(out))
    print(f"trained {out.name}: {len(m.words)} words in {time.perf_counter() - t:.0f} s",
          file=sys.stderr)
    return out


def cos_rows(a, b):
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    out = np.zeros(len(a))
    np.divide(np.einsum("ij,ij->i", a, b), den, out=out, where=den > 0)
    return out


def unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def files_size(prefix: Path) -> int:
    return sum(p.stat().st_size for p in prefix.parent.glob(prefix.name + "*"))


class BoxLock:
    """`flock` on the shared box's lock file around timed or memory-heavy parts (no-op
    without --lock)."""

    def __init__(self, path: str | None):
        self.path = path

    def __enter__(self):
        if self.path:
            import fcntl

            self.f = open(self.path, "a")
            t = time.perf_counter()
            fcntl.flock(self.f, fcntl.LOCK_EX)
            print(f"lock held after {time.perf_counter() - t:.0f} s wait", file=sys.stderr)

    def __exit__(self, *exc):
        if self.path:
            self.f.close()


def word_lists(model_words: list[str], held: Path, n_cand: int) -> dict:
    """Held-out known words (+ token counts), OOV words, SimLex pairs, analogy questions and
    the candidate words (the model's n_cand most frequent) neighbours are searched among."""
    vocab = set(model_words)
    tokens = Counter(held.read_text(encoding="utf-8").split())
    known = [w for w in tokens if w in vocab]
    oov = sorted((w for w in tokens if w not in vocab and len(w) >= 3),  # has a 5-gram
                 key=lambda w: (-tokens[w], w))[:5000]
    simlex = [line.split("\t")[:3] for line in
              gensim_test_file("simlex999.txt").read_text(encoding="utf-8").splitlines()
              if line and not line.startswith("#")]
    cand = model_words[:n_cand]
    pos = {w: i for i, w in enumerate(cand)}
    questions = []
    for line in gensim_test_file("questions-words.txt").read_text(encoding="utf-8").lower() \
            .splitlines():
        q = line.split()
        if len(q) == 4 and all(w in pos for w in q):
            questions.append([pos[w] for w in q])
    queries = [w for w, _ in sorted(((w, tokens[w]) for w in known if w in pos),
                                    key=lambda t: -t[1])[:2000]]
    return {"known": known, "weights": [tokens[w] for w in known], "oov": oov,
            "simlex": simlex, "cand": cand, "questions": questions,
            "queries": [pos[w] for w in queries]}


def trained_oov(model_path: Path, words: list[str], oov: list[str]) -> list[bool]:
    """Which OOV words have an n-gram in a bucket some vocabulary word uses: the others'
    original vectors are means of untrained rows (zero or fastText's small seeded init), which
    compress-fasttext drops and vecsmith regenerates (`vecsmith.fasttext.init_rows`)."""
    from vecsmith._batch import pack_words
    from vecsmith.fasttext import load_model
    from vecsmith.subwords import compiled

    a = load_model(str(model_path)).args
    blob, offs = pack_words(words)
    used = np.unique(compiled().word_bucket_ids(blob, offs, a.minn, a.maxn, a.bucket, False)[0])
    blob, offs = pack_words(oov)
    ids, owners = compiled().word_bucket_ids(blob, offs, a.minn, a.maxn, a.bucket, False)
    hit = np.isin(ids, used).astype(np.int64)
    n = np.diff(owners)
    sums = np.add.reduceat(hit, owners[:-1]) if len(hit) else np.zeros(len(oov), np.int64)
    return [bool(k > 0 and t > 0) for k, t in zip(n, sums, strict=True)]


def quality(get, lists: dict, ref: dict) -> dict:
    """Every quality measure of one model (`get`: words -> float32 rows)."""
    from scipy.stats import spearmanr

    c = cos_rows(get(lists["known"]), ref["known"])
    out = {"cos_vocab": float(c.mean()),
           "cos_tokens": float(np.average(c, weights=lists["weights"])),
           "cos_oov": float(cos_rows(get(lists["oov"]), ref["oov"]).mean())}
    if "oov_trained" in lists:  # OOV words with an n-gram some vocabulary word trained
        co = cos_rows(get(lists["oov"]), ref["oov"])
        out["cos_oov_trained"] = float(co[np.asarray(lists["oov_trained"], bool)].mean())
    sl = lists["simlex"]
    out["simlex"] = float(spearmanr(cos_rows(get([r[0] for r in sl]), get([r[1] for r in sl])),
                                    [float(r[2]) for r in sl]).statistic)
    e = unit(get(lists["cand"]).astype(np.float32))
    q = np.asarray(lists["questions"], dtype=np.int64)
    hits = 0
    for s in range(0, len(q), 2048):
        b = q[s : s + 2048]
        sims = unit(e[b[:, 1]] - e[b[:, 0]] + e[b[:, 2]]) @ e.T
        for j in range(3):
            sims[np.arange(len(b)), b[:, j]] = -np.inf
        hits += int((sims.argmax(axis=1) == b[:, 3]).sum())
    out["analogy"] = hits / max(len(q), 1)
    qi = np.asarray(lists["queries"], dtype=np.int64)
    mine = e[qi] @ e.T
    mine[np.arange(len(qi)), qi] = -np.inf
    top = np.argpartition(-mine, 10, axis=1)[:, :10]
    out["top10_overlap"] = float(np.mean([len(set(a) & set(b)) / 10
                                          for a, b in zip(top, ref["top10"], strict=True)]))
    return out


def reference(ft, lists: dict, get=None) -> dict:
    """The original model's vectors for the measures (`get`: words -> rows, else the fastText
    model `ft`); drops OOV words whose vector is zero (every n-gram in an untrained bucket:
    fastText leaves those rows at zero)."""
    if get is None:
        get = lambda ws: np.stack([ft.get_word_vector(w) for w in ws])  # noqa: E731
    e = unit(get(lists["cand"]))
    qi = np.asarray(lists["queries"], dtype=np.int64)
    sims = e[qi] @ e.T
    sims[np.arange(len(qi)), qi] = -np.inf
    oov = get(lists["oov"])
    some = np.linalg.norm(oov, axis=1) > 0  # all n-grams untrained (zero rows): no direction
    lists["oov"] = [w for w, s in zip(lists["oov"], some, strict=True) if s]
    return {"known": get(lists["known"]), "oov": oov[some],
            "top10": np.argpartition(-sims, 10, axis=1)[:, :10]}


TIMING = r"""
import json, sys, time
import numpy as np
kind, path, words_file = sys.argv[1:4]
words = json.load(open(words_file))
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096
if kind == 'cf':
    from compress_fasttext.models import CompressedFastTextKeyedVectors as C
    r0 = rss(); t = time.perf_counter(); m = C.load(path); t_open = time.perf_counter() - t
    get = lambda ws: np.stack([m[w] for w in ws])
else:
    from vecsmith import store
    r0 = rss(); t = time.perf_counter(); m = store.open(path); t_open = time.perf_counter() - t
    get = m.get_many
t = time.perf_counter(); get(words[:1]); first = time.perf_counter() - t
r1 = rss()
best = 1e9
for _ in range(3):
    t = time.perf_counter(); get(words); best = min(best, time.perf_counter() - t)
print(json.dumps({'open_ms': t_open * 1e3, 'first_oov_ms': first * 1e3,
                  'rss_after_open_mb': (r1 - r0) / 1e6,
                  'oov_us_per_word': best / len(words) * 1e6}))
"""


def timing(kind: str, path: Path, words_file: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", TIMING, kind, str(path), str(words_file)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def vs_compress(model_path: Path, cache: Path, size: int, variant: str, kw: dict
                ) -> tuple[dict, Path]:
    """`vecsmith compress` at `size`; a store already made by `--prepare` is reused with the
    seconds it took then (written beside it)."""
    from vecsmith import store
    from vecsmith.store.compress import compress

    out = cache / f"vs_{size}_{variant.replace(' ', '_')}.store"
    note = out.with_suffix(".json")
    if out.exists() and note.exists():
        sec, locked = json.loads(note.read_text())
    else:
        t = time.perf_counter()
        compress(model_path, out, size=size, checksum=False, **kw)
        sec, locked = time.perf_counter() - t, None
        note.write_text(json.dumps([sec, locked]))
    rep = store.open(out).compression
    return {"tool": variant, "words": rep["kept_words"], "ngrams": rep["kept_ngrams"],
            "bytes": out.stat().st_size, "seconds": round(sec, 1),
            "residual_words": rep.get("residual_word_rows"),
            "residual_ngrams": rep.get("residual_ngram_rows"),
            "dense_words": rep.get("dense_word_rows")}, out


def cf_settings(nwords: int, quick: bool) -> list[tuple[int, int, bool]]:
    """compress-fasttext (words, n-grams, pq): its defaults (about 14 MB here); every word and
    every n-gram (it keeps only n-grams some word uses: 124k here), PQ, about 24 MB, the most
    its PQ reaches on this model; float16 rows without PQ, 20k words + 63k n-grams (about
    50 MB) and everything (about 124 MB, its largest file here: nothing left to add)."""
    if quick:
        return [(20_000, 100_000, True)]
    return [(20_000, 100_000, True), (nwords, 2_000_000, True), (20_000, 63_000, False),
            (nwords, 2_000_000, False)]


def plot(rows: list[dict], path: Path) -> None:
    """Error against file size, one panel a measure; errors below float32's noise floor
    (1e-8, or negative: a mean cosine rounded above 1) are drawn at the floor."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullFormatter, ScalarFormatter

    panels = [("cos_tokens", "held-out text tokens"), ("cos_oov", "all OOV words")]
    if all("cos_oov_trained" in r for r in rows):
        panels.append(("cos_oov_trained", "OOV words with a trained n-gram"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4))
    floor = 1e-8
    for ax, (key, title) in zip(axes, panels, strict=True):
        for tool, style in (("compress-fasttext", "o--"), ("vecsmith", "s-")):
            pts = sorted((r["bytes"] / 1e6, max(1 - r[key], floor)) for r in rows
                         if r["tool"] == tool)
            if pts:
                ax.plot(*zip(*pts, strict=True), style, label=tool)
        ax.axhline(floor, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_locator(FixedLocator([10, 20, 50, 100, 200]))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("file size, MB")
        ax.set_ylabel("1 − mean cosine to the original")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("300-d fastText (GCIDE + WordNet text): error against size "
                 "(dotted: float32 noise floor)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


GLOVE_SIZES = (5_000_000, 12_000_000, 25_000_000, 60_000_000)


def glove(cache: Path, sizes: list[int], with_cf: bool) -> None:
    """GloVe 6B 50d given n-grams by `vecsmith transfer` (the store is the reference), each
    `vecsmith compress` size measured as for the fastText model; compress-fasttext through the
    store exported to a fastText `.bin` (`vecsmith export --format bin`, then gensim)."""
    from vecsmith import store

    gdir = cache.parent / "compress-glove"
    gdir.mkdir(parents=True, exist_ok=True)
    src = gdir / "glove50.store"
    if not src.exists():  # about 3-6 minutes on 2 cores, all 400k words
        subprocess.run([sys.executable, "-m", "vecsmith", "transfer", "glove-6b-50d", "-o",
                        str(src), "--quiet"], check=True)
    full = store.open(src)
    words = list(full.words)
    _, held = corpus_parts(cache)
    lists = word_lists(words, held, 30_000)
    ref = reference(None, lists, full.get_many)
    base = quality(full.get_many, lists, ref)
    info = {"source": src.name, "words": len(words), "bytes": src.stat().st_size,
            "held_known": len(lists["known"]), "held_tokens": int(sum(lists["weights"])),
            "held_oov": len(lists["oov"]), "questions": len(lists["questions"]), **base}
    print(json.dumps(info), flush=True)
    rows = []
    for size in sizes:
        row, out = vs_compress(src, gdir, size, "vecsmith", {})
        row.update(quality(store.open(out).get_many, lists, ref))
        rows.append(row)
        print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v)
                          for k, v in row.items()}), flush=True)
    if with_cf:
        rows += glove_cf(full, gdir, len(words), lists, ref)
    (gdir / "results.json").write_text(json.dumps({"base": info, "rows": rows}, indent=1))


def glove_cf(full, gdir: Path, nwords: int, lists: dict, ref: dict) -> list[dict]:
    """compress-fasttext on the transferred GloVe model, exported to a fastText .bin."""
    from vecsmith.fasttext.writer import save_fasttext_bin

    binf = gdir / "glove50.bin"
    if not binf.exists():
        save_fasttext_bin(full, binf)
    rows = []
    try:
        from compress_fasttext import prune_ft_freq
        from compress_fasttext.models import CompressedFastTextKeyedVectors
        from gensim.models.fasttext import load_facebook_vectors

        wv = load_facebook_vectors(str(binf))
        for nv, ng, pq in ((20_000, 100_000, True), (nwords, 2_000_000, True)):
            t = time.perf_counter()
            small = prune_ft_freq(wv, new_vocab_size=nv, new_ngrams_size=ng, pq=pq,
                                  qdim=wv.vector_size // 2)  # its default 100 does not divide 50
            sec = time.perf_counter() - t
            prefix = gdir / f"cf_{nv}_{ng}_{int(pq)}.model"
            small.save(str(prefix))
            del small
            m = CompressedFastTextKeyedVectors.load(str(prefix))
            row = {"tool": "compress-fasttext", "words": nv, "ngrams": ng, "pq": pq,
                   "bytes": files_size(prefix), "seconds": round(sec, 1),
                   **quality(lambda ws, m=m: np.stack([m[w] for w in ws]), lists, ref)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    except Exception as e:  # reported, not hidden: the table says what happened
        rows.append({"tool": "compress-fasttext", "error": f"{type(e).__name__}: {e}"})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200k buckets, 1 epoch, one size")
    ap.add_argument("--train-only", action="store_true", help="prepare text and model, stop")
    ap.add_argument("--ablation", action="store_true", help="vecsmith variants at the first size")
    ap.add_argument("--lock", default=None, help="flock this file around heavy/timed parts")
    ap.add_argument("--plot", default=None, help="write the quality-vs-size PNG here")
    ap.add_argument("--cache", default=os.environ.get(
        "VECSMITH_BENCH_CACHE", os.path.expanduser("~/.cache/vecsmith-bench/compress")))
    ap.add_argument("--vs-sizes", default=None,
                    help="comma-separated byte budgets for vecsmith (default: each "
                         "compress-fasttext file's size)")
    ap.add_argument("--prepare", action="store_true",
                    help="only make the vecsmith stores at --vs-sizes (no lock: quality "
                         "runs; the seconds are those of a shared box)")
    ap.add_argument("--glove", action="store_true",
                    help="GloVe 6B 50d + `vecsmith transfer` n-grams instead (sizes: --vs-sizes "
                         "or 5, 12, 25, 60 MB); quality only, no timings")
    ap.add_argument("--reuse-cf", action="store_true",
                    help="reuse compress-fasttext files already in the cache (no gensim load, "
                         "no timings; quality only) and write results_reuse.json")
    ap.add_argument("--no-cf", action="store_true", help="with --glove: skip compress-fasttext")
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    if args.glove:
        sizes = [int(x) for x in args.vs_sizes.split(",")] if args.vs_sizes else GLOVE_SIZES
        glove(cache, list(sizes), not args.no_cf)
        return
    lock = BoxLock(args.lock)
    if not (cache / ("cbow300q.bin" if args.quick else "cbow300.bin")).exists():
        with lock:
            train_model(cache, args.quick)
    model_path = train_model(cache, args.quick)
    if args.train_only:
        return
    _, held = corpus_parts(cache)
    if args.prepare:
        for size in (int(x) for x in args.vs_sizes.split(",")):
            print(json.dumps(vs_compress(model_path, cache, size, "vecsmith", {})[0]), flush=True)
        return

    from compress_fasttext import prune_ft_freq
    from compress_fasttext.models import CompressedFastTextKeyedVectors
    from gensim.models.fasttext import load_facebook_vectors

    import fasttext
    from vecsmith import store

    rows: list[dict] = []
    made: list[tuple[dict, Path, str]] = []
    with lock:  # the 2.4 GB model, twice (fastText, gensim), and the timed compressions
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ft = fasttext.load_model(str(model_path))
        words = list(ft.words)
        lists = word_lists(words, held, 30_000)
        ref = reference(ft, lists)
        lists["oov_trained"] = trained_oov(model_path, words, lists["oov"])
        base = quality(lambda ws, ft=ft: np.stack([ft.get_word_vector(w) for w in ws]),
                       lists, ref)
        del ft
        info = {"model": model_path.name, "words": len(words), "held_known": len(lists["known"]),
                "held_tokens": int(sum(lists["weights"])), "held_oov": len(lists["oov"]),
                "questions": len(lists["questions"]), "model_bytes": model_path.stat().st_size,
                **base}
        print(json.dumps(info), flush=True)
        t = time.perf_counter()
        wv = None if args.reuse_cf else load_facebook_vectors(str(model_path))
        print(f"gensim load {time.perf_counter() - t:.1f} s", file=sys.stderr)
        for nv, ng, pq in cf_settings(len(words), args.quick):
            prefix = cache / f"cf_{nv}_{ng}_{int(pq)}.model"
            if args.reuse_cf:
                if prefix.exists():
                    made.append(({"tool": "compress-fasttext", "words": nv, "ngrams": ng,
                                  "pq": pq, "bytes": files_size(prefix)}, prefix, "cf"))
                continue
            t = time.perf_counter()
            small = prune_ft_freq(wv, new_vocab_size=nv, new_ngrams_size=ng, pq=pq)
            sec = time.perf_counter() - t
            prefix = cache / f"cf_{nv}_{ng}_{int(pq)}.model"
            small.save(str(prefix))
            del small
            row = {"tool": "compress-fasttext", "words": nv, "ngrams": ng, "pq": pq,
                   "bytes": files_size(prefix), "seconds": round(sec, 1)}
            made.append((row, prefix, "cf"))
        del wv
        variants = [("vecsmith", {})]
        if args.ablation:
            variants += [("vecsmith no-refit", {"refit": False}),
                         ("vecsmith no-residual", {"max_stages": 0})]
        cf_rows = [r for r, _, _ in made]
        sizes = [int(x) for x in args.vs_sizes.split(",")] if args.vs_sizes else \
            [r["bytes"] for r in cf_rows]
        for i, size in enumerate(sizes):
            for variant, kw in (variants if i == 0 else variants[:1]):
                row, out = vs_compress(model_path, cache, size, variant, kw)
                row["cf_bytes"] = cf_rows[i]["bytes"] if i < len(cf_rows) else None
                made.append((row, out, "vs"))
                print(json.dumps(row), file=sys.stderr, flush=True)
        words_file = cache / "oov_words.json"  # timed: open, RSS, OOV lookups (locked)
        words_file.write_text(json.dumps(lists["oov"][:2000]))
        for row, path, kind in made if not args.reuse_cf else ():
            row.update(timing(kind, path, words_file))
    for row, path, kind in made:  # quality: small files, no lock
        if kind == "cf":
            m = CompressedFastTextKeyedVectors.load(str(path))
            get = lambda ws, m=m: np.stack([m[w] for w in ws])  # noqa: E731
        else:
            get = store.open(path).get_many
        row.update(quality(get, lists, ref))
    for row, _, _ in made:
        rows.append(row)
        print(json.dumps({k: (round(v, 5) if isinstance(v, float) else v)
                          for k, v in row.items()}), flush=True)
    (cache / ("results_reuse.json" if args.reuse_cf else "results.json")).write_text(json.dumps({"base": info, "rows": rows}, indent=1))
    if args.plot:
        plot(rows, Path(args.plot))


if __name__ == "__main__":
    main()

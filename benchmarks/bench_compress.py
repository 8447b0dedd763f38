"""compress-fasttext against `vecsmith compress` at matched file sizes, on one real model.

The model: the official fastText trained here (cbow, dim 300, minn = maxn = 5, 2M buckets: the
`cc.*.300` settings; minCount 2, 5 epochs) on the largest English text the installed packages
ship: gensim's test corpora `head500.noblanks.cor` (the first 225 of its 250 lines of stemmed Wikipedia text) and
`lee_background.cor`. Held-out text: the last 25 lines of `head500.noblanks.cor`, `lee.cor`
and `pang_lee_polarity.cor` (never seen in training). It is a 20k-word model, not cc.en.300:
the sizes below are scaled to it.

Measures, against the uncompressed model: mean cosine over the held-out text's distinct words
that the model knows (compress-fasttext's own measure), the same weighted by tokens, and over
held-out words the model does not know (OOV, through n-grams); SimLex-999 Spearman (gensim's
copy); file size (every file a tool writes); compression time.

    python benchmarks/bench_compress.py [--quick] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from vecsmith.datasets import gensim_test_file


def corpus_parts():
    head = gensim_test_file("head500.noblanks.cor").read_text(encoding="utf-8").splitlines()
    train = [*head[:225], gensim_test_file("lee_background.cor").read_text(encoding="utf-8")]
    held = head[225:] + [gensim_test_file(n).read_text(encoding="utf-8", errors="replace")
                         for n in ("lee.cor", "pang_lee_polarity.cor")]
    return "\n".join(train), "\n".join(held)


def train_model(cache: Path, quick: bool) -> Path:
    out = cache / ("cbow300q.bin" if quick else "cbow300.bin")
    if out.exists():
        return out
    import fasttext

    train, _ = corpus_parts()
    text = cache / "train.txt"
    text.write_text(train, encoding="utf-8")
    t = time.perf_counter()
    m = fasttext.train_unsupervised(str(text), model="cbow", dim=300, minn=5, maxn=5,
                                    bucket=200_000 if quick else 2_000_000, minCount=2,
                                    epoch=5, thread=2, verbose=0)
    m.save_model(str(out))
    print(f"trained {out.name}: {len(m.words)} words in {time.perf_counter() - t:.0f} s",
          file=sys.stderr)
    return out


def cos_rows(a, b):
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    out = np.zeros(len(a))
    np.divide(np.einsum("ij,ij->i", a, b), den, out=out, where=den > 0)
    return out


def files_size(prefix: Path) -> int:
    return sum(p.stat().st_size for p in prefix.parent.glob(prefix.name + "*"))


def simlex(get) -> float:
    from scipy.stats import spearmanr

    rows = [line.split("\t") for line in
            gensim_test_file("simlex999.txt").read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")]
    a = get([r[0] for r in rows])
    b = get([r[1] for r in rows])
    return float(spearmanr(cos_rows(a, b), [float(r[2]) for r in rows]).statistic)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="200k buckets, two sizes")
    ap.add_argument("--ablation", action="store_true", help="also vecsmith without refit")
    ap.add_argument("--cache", default=os.environ.get("VECSMITH_BENCH_CACHE",
                                                      "/tmp/vecsmith-bench-compress"))
    args = ap.parse_args()
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    model_path = train_model(cache, args.quick)

    from compress_fasttext import prune_ft_freq
    from gensim.models.fasttext import load_facebook_vectors

    import fasttext
    from vecsmith import store
    from vecsmith.store.compress import compress

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ft = fasttext.load_model(str(model_path))
    vocab = set(ft.words)
    _, held = corpus_parts()
    tokens = Counter(re.findall(r"\S+", held))
    known = [w for w in tokens if w in vocab]
    oov = [w for w in tokens if w not in vocab and len(w) > 1][:3000]
    weights = np.array([tokens[w] for w in known], dtype=np.float64)
    ref_known = np.stack([ft.get_word_vector(w) for w in known])
    ref_oov = np.stack([ft.get_word_vector(w) for w in oov])

    def measure(get) -> dict:
        c = cos_rows(get(known), ref_known)
        return {"cos_vocab": float(c.mean()), "cos_tokens": float(np.average(c, weights=weights)),
                "cos_oov": float(cos_rows(get(oov), ref_oov).mean()), "simlex": simlex(get)}

    base = {"simlex": simlex(lambda ws: np.stack([ft.get_word_vector(w) for w in ws]))}
    print(json.dumps({"model": model_path.name, "words": len(ft.words), "held_known": len(known),
                      "held_tokens": int(weights.sum()), "held_oov": len(oov),
                      "model_bytes": model_path.stat().st_size, **base}), flush=True)

    t = time.perf_counter()
    wv = load_facebook_vectors(str(model_path))
    print(f"gensim load {time.perf_counter() - t:.1f} s", file=sys.stderr)
    settings = [(2000, 20_000)] if args.quick else \
        [(2000, 20_000), (5000, 50_000), (20_000, 100_000)]
    rows = []
    for nv, ng in settings:
        t = time.perf_counter()
        small = prune_ft_freq(wv, new_vocab_size=nv, new_ngrams_size=ng)
        cf_time = time.perf_counter() - t
        prefix = cache / f"cf_{nv}_{ng}.model"
        small.save(str(prefix))
        size = files_size(prefix)
        cf = measure(lambda ws, small=small: np.stack([small[w] for w in ws]))
        rows.append({"tool": "compress-fasttext", "words": nv, "ngrams": ng, "bytes": size,
                     "seconds": round(cf_time, 1), **cf})
        print(json.dumps(rows[-1]), flush=True)
        variants = [("vecsmith", {})]
        if args.ablation and (nv, ng) == settings[0]:  # the refit ablation
            variants.append(("vecsmith no-refit", {"refit": False}))
        for variant, kw in variants:
            out = cache / f"vs_{size}_{variant.replace(' ', '_')}.store"
            t = time.perf_counter()
            compress(model_path, out, size=size, checksum=False, **kw)
            vs_time = time.perf_counter() - t
            v = store.open(out)
            rep = v.compression
            rows.append({"tool": variant, "words": rep["kept_words"], "ngrams": rep["kept_ngrams"],
                         "bytes": out.stat().st_size, "seconds": round(vs_time, 1),
                         **measure(v.get_many)})
            print(json.dumps(rows[-1]), flush=True)
    (cache / "results.json").write_text(json.dumps({"base": base, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()

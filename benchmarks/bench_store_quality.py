"""What float16, --max-words, --ngrams-for and --no-ngrams cost in quality, against file size.

A real model: the official fastText (skipgram, 100 dims, minn 3, maxn 6) trained here on the
corpus gensim ships (`head500.noblanks.cor`, about 0.4M tokens; with --quick the smaller
`lee_background.cor`). Quality: Spearman against SimLex-999 (pairs with a word outside the kept
vocabulary are answered from n-grams, or scored 0 when the store cannot embed them) and
accuracy on gensim's analogy questions whose four words are in the model's vocabulary.

    python benchmarks/bench_store_quality.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from vecsmith import store
from vecsmith.datasets import gensim_test_file
from vecsmith.fasttext import load_model


def train(corpus: Path, out: Path) -> Path:
    import fasttext

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = fasttext.train_unsupervised(str(corpus), model="skipgram", dim=100, minn=3, maxn=6,
                                        epoch=5, minCount=3, thread=2, verbose=0)
    m.save_model(str(out))
    return out


def simlex() -> list[tuple[str, str, float]]:
    rows = []
    for line in gensim_test_file("simlex999.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        a, b, score = line.split("\t")[:3]
        rows.append((a.lower(), b.lower(), float(score)))
    return rows


def analogies(vocab: set[str]) -> list[tuple[str, str, str, str]]:
    out = []
    for line in gensim_test_file("questions-words.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith(":"):
            continue
        q = line.lower().split()
        if len(q) == 4 and all(w in vocab for w in q):
            out.append(tuple(q))
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def evaluate(v, pairs, questions) -> dict:
    sims, gold, covered = [], [], 0
    for a, b, score in pairs:
        try:
            va, vb = v.get_many([a, b])
            covered += 1
            sims.append(cosine(va, vb))
        except KeyError:
            sims.append(0.0)
        gold.append(score)
    correct = 0
    for a, b, c, d in questions:  # b - a + c = d
        try:
            got = v.analogy(b, a, c, k=1)
        except KeyError:
            continue
        correct += bool(got) and got[0][0] == d
    return {"simlex_spearman": spearmanr(sims, gold).statistic, "simlex_covered": covered,
            "analogy_acc": correct / max(1, len(questions))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    corpus = gensim_test_file("lee_background.cor" if args.quick else "head500.noblanks.cor")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        model_path = train(corpus, tmp / "model.bin")
        print(f"trained {model_path.name} on {corpus.name} in {time.perf_counter() - t:.0f} s")
        m = load_model(model_path)
        pairs = simlex()
        questions = analogies(set(m.words))
        wanted = sorted({w for a, b, _ in pairs for w in (a, b)})
        variants = {
            "float32 (exact)": dict(dtype="float32"),
            "float16": dict(dtype="float16"),
            "float16 --max-words 5000": dict(max_words=5000),
            "float16 --max-words 2000": dict(max_words=2000),
            "float16 --ngrams-for simlex words": dict(ngrams_for=wanted),
            "float16 --max-words 2000 --ngrams-for": dict(max_words=2000, ngrams_for=wanted),
            "float16 --no-ngrams": dict(no_ngrams=True),
        }
        rows = []
        for name, kw in variants.items():
            out = tmp / "s.store"
            store.convert_fasttext(m, out, quiet=True, **kw)
            res = evaluate(store.open(out), pairs, questions)
            rows.append((name, os.path.getsize(out) / os.path.getsize(model_path), res))
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"store variants of a skipgram model ({m.nwords} words, "
                            f"{os.path.getsize(model_path) / 1e6:.0f} MB .bin); "
                            f"{len(questions)} analogy questions in vocabulary")
        for c in ("variant", "size / .bin", "SimLex ρ", "SimLex pairs embedded", "analogy acc"):
            table.add_column(c, justify="right")
        for name, ratio, r in rows:
            table.add_row(name, f"{100 * ratio:.1f}%", f"{r['simlex_spearman']:.3f}",
                          f"{r['simlex_covered']}/{len(pairs)}", f"{r['analogy_acc']:.3f}")
        Console().print(table)


if __name__ == "__main__":
    main()

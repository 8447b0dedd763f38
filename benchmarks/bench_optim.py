"""vecsmith.optim beside torch.optim: step time, and a convergence study on wordfreq data.

1. speed: time of one optimizer step on the same parameters and gradients, against the anchor
   ``torch.optim.Adam(foreach=True)``:
     - SMORMS3 fused (the numba one-pass kernel, the CPU default), per-tensor and foreach
       (the torch kernels), Adam per-tensor;
     - DenseSparseOptimizer on dense tensors (routing overhead over plain Adam);
     - a mixed model (sparse Embedding + dense layers): DenseSparseOptimizer vs the
       Adam + SparseAdam pair it replaces, and with SMORMS3 for both.
   Shapes: many small tensors and a few large ones. CPU always (1 torch thread by default, the
   box is shared); CUDA too when a GPU is present. Each figure is the best of interleaved
   repeats, because noise on a shared machine only ever adds time; read the ratios.

2. converge: SMORMS3 vs Adam vs RMSprop vs Adagrad on two real tasks built from the word lists
   ``wordfreq`` ships (word -> language, 6 languages):
     - sparse: hashed character 1-4-grams -> EmbeddingBag(sparse=True) -> linear
       (RMSprop cannot take sparse gradients: it gets the same model with a dense bag);
     - dense: character-count features -> 2-hidden-layer MLP.
   A small learning-rate sweep per optimizer and several seeds; validation loss curves at each
   optimizer's best lr go to benchmarks/out/optim_convergence.png (copied to
   docs/img/optim_convergence.png), the full table to benchmarks/out/optim.json.

Run:  .venv/bin/python benchmarks/bench_optim.py [speed|converge|all] [--quick] [--runs N]
      [--threads T]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from vecsmith import datasets
from vecsmith.optim import SMORMS3, DenseSparseOptimizer

OUT = Path(__file__).resolve().parent / "out"
DOCS_IMG = Path(__file__).resolve().parents[1] / "docs" / "img"
LANGS = ["en", "de", "fr", "es", "it", "nl"]


# --------------------------------------------------------------------------------------------
# 1. step time
# --------------------------------------------------------------------------------------------

def _dense_params(n: int, size: int, device: str) -> list[nn.Parameter]:
    gen = torch.Generator().manual_seed(0)
    params = []
    for _ in range(n):
        p = nn.Parameter(torch.randn(size, generator=gen).to(device))
        p.grad = torch.randn(size, generator=gen).to(device)
        params.append(p)
    return params


def _mixed_model(vocab: int, device: str) -> list[nn.Parameter]:
    """Embedding(vocab x 64, sparse) + 3 dense layers, with real gradients from one backward."""
    torch.manual_seed(0)
    emb = nn.Embedding(vocab, 64, sparse=True).to(device)
    mlp = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                        nn.Linear(256, 10)).to(device)
    ids = torch.randint(0, vocab, (512, 20), device=device)
    mlp(emb(ids).mean(1)).logsumexp(1).sum().backward()
    return [emb.weight, *mlp.parameters()]


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _time_steps(makers: dict[str, Callable[[], list]], steps: int, repeats: int,
                device: str) -> dict[str, float]:
    """Best-of-`repeats` seconds per step for each optimizer, repeats interleaved."""
    built = {}
    for name, make in makers.items():
        opts = make()
        for _ in range(3):  # warm-up: state allocation, kernel compilation
            for o in opts:
                o.step()
        built[name] = opts
    best = dict.fromkeys(built, float("inf"))
    for _ in range(repeats):
        for name, opts in built.items():
            _sync(device)
            t0 = time.perf_counter()
            for _ in range(steps):
                for o in opts:
                    o.step()
            _sync(device)
            best[name] = min(best[name], (time.perf_counter() - t0) / steps)
    return best


def speed(quick: bool, threads: int) -> list[dict]:
    torch.set_num_threads(threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    shapes = ([(1000, 64), (4, 250_000)] if quick
              else [(1000, 64), (200, 1024), (10, 100_000), (4, 1_000_000)])
    rows = []
    for device in devices:
        for n, size in shapes:
            ps = _dense_params(n, size, device)
            makers: dict[str, Callable[[], list]] = {
                "Adam foreach (anchor)": lambda ps=ps: [torch.optim.Adam(ps, foreach=True)],
                "Adam per-tensor": lambda ps=ps: [torch.optim.Adam(ps, foreach=False)],
                "SMORMS3 fused (default)": lambda ps=ps: [SMORMS3(ps)],
                "SMORMS3 per-tensor": lambda ps=ps: [SMORMS3(ps, foreach=False)],
                "SMORMS3 foreach": lambda ps=ps: [SMORMS3(ps, foreach=True)],
                "DenseSparse(Adam) foreach": lambda ps=ps: [
                    DenseSparseOptimizer(ps, foreach=True)],
            }
            elems = n * size
            steps = max(3, min(50, int(4e6 / elems))) if device == "cpu" else 50
            best = _time_steps(makers, steps, 3 if quick else 7, device)
            anchor = best["Adam foreach (anchor)"]
            for name, sec in best.items():
                rows.append({"device": device, "case": f"{n} x {size:,}", "optimizer": name,
                             "ms_per_step": sec * 1e3, "vs_adam_foreach": sec / anchor})
        # mixed sparse + dense model
        vocab = 100_000 if quick else 1_000_000
        ps = _mixed_model(vocab, device)
        sparse_ps, dense_ps = ps[:1], ps[1:]
        fe = device != "cpu"
        # the pair as users build it: Adam's own foreach default (off on CPU, on for CUDA)
        pair = f"Adam{' foreach' if fe else ''} + SparseAdam (anchor)"
        makers = {
            pair: lambda d=dense_ps, s=sparse_ps, fe=fe: [
                torch.optim.Adam(d, foreach=fe), torch.optim.SparseAdam(s)],
            "DenseSparseOptimizer (Adam)": lambda ps=ps, fe=fe: [
                DenseSparseOptimizer(ps, foreach=fe)],
            "DenseSparseOptimizer (SMORMS3)": lambda ps=ps: [DenseSparseOptimizer(
                ps, dense="smorms3", sparse="smorms3")],
            "SMORMS3 (fused on CPU)": lambda ps=ps: [SMORMS3(ps)],
            "SMORMS3 fused=False": lambda ps=ps, fe=fe: [SMORMS3(ps, foreach=fe, fused=False)],
        }
        best = _time_steps(makers, 20, 3 if quick else 7, device)
        anchor = best[pair]
        for name, sec in best.items():
            rows.append({"device": device, "case": f"Embedding {vocab:,}x64 sparse + MLP",
                         "optimizer": name, "ms_per_step": sec * 1e3,
                         "vs_adam_foreach": sec / anchor})
    return rows


# --------------------------------------------------------------------------------------------
# 2. convergence on wordfreq data
# --------------------------------------------------------------------------------------------

def language_words(per_lang: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Words that belong to exactly one of LANGS (most frequent first), shuffled with labels."""
    words, langs = datasets.language_words(LANGS, per_lang, seed)
    return words, np.asarray([LANGS.index(lang) for lang in langs])


def _ngram_ids(word: str, buckets: int) -> list[int]:
    w = f" {word} "
    grams = [w[i:i + n] for n in range(1, 5) for i in range(len(w) - n + 1)]
    return [zlib.crc32(g.encode()) % buckets for g in grams]


class BagModel(nn.Module):
    """fastText-like classifier: mean of hashed n-gram vectors, then a linear layer."""

    def __init__(self, buckets: int, dim: int, classes: int, sparse: bool) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(buckets, dim, mode="mean", sparse=sparse)
        nn.init.uniform_(self.bag.weight, -1 / dim, 1 / dim)
        self.out = nn.Linear(dim, classes)

    def forward(self, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
        return self.out(self.bag(ids, offsets))


def _optimizer(name: str, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    params = model.parameters()
    if name == "SMORMS3":
        return SMORMS3(params, lr=lr)
    if name == "Adam":  # Adam on dense gradients, lazy Adam (= SparseAdam) on sparse ones
        return DenseSparseOptimizer(params, lr=lr)
    if name == "RMSprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "Adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    raise ValueError(name)


LR_GRID = {
    "SMORMS3": [1e-3, 3e-3, 1e-2],
    "Adam": [1e-3, 3e-3, 1e-2],
    "RMSprop": [3e-4, 1e-3, 3e-3],
    "Adagrad": [1e-2, 3e-2, 1e-1],
}


def _prepare(per_lang: int):
    words, labels = language_words(per_lang)
    n_val = len(words) // 5
    buckets = 1 << 16
    ids = [_ngram_ids(w, buckets) for w in words]
    alphabet = sorted({c for w in words for c in w})
    col = {c: i for i, c in enumerate(alphabet)}
    dense = np.zeros((len(words), len(alphabet) + 2), dtype=np.float32)
    for r, w in enumerate(words):
        for c in w:
            dense[r, col[c]] += 1
        dense[r, -2] = len(w) / 10
        dense[r, -1] = sum(c in "aeiou" for c in w) / max(len(w), 1)
    return {"words": words, "labels": torch.as_tensor(labels), "ids": ids, "dense": torch.as_tensor(dense),
            "n_val": n_val, "buckets": buckets}


def _bag_batch(ids: list[list[int]], rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    lens = [len(ids[r]) for r in rows]
    flat = torch.as_tensor([i for r in rows for i in ids[r]])
    offsets = torch.as_tensor(np.concatenate([[0], np.cumsum(lens[:-1])]), dtype=torch.long)
    return flat, offsets


def _run(task: str, opt_name: str, lr: float, seed: int, data: dict, steps: int,
         eval_every: int) -> list[float]:
    """Validation loss after every `eval_every` steps (first point: before training)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n_val = data["n_val"]
    labels = data["labels"]
    train_rows = np.arange(n_val, len(labels))
    if task == "sparse":
        model = BagModel(data["buckets"], 32, len(LANGS), sparse=opt_name != "RMSprop")
        val_x = _bag_batch(data["ids"], np.arange(n_val))

        def fwd(x):
            return model(*x)

        def batch(rows):
            return _bag_batch(data["ids"], rows)
    else:
        d = data["dense"].shape[1]
        model = nn.Sequential(nn.Linear(d, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                              nn.Linear(128, len(LANGS)))
        val_x = data["dense"][:n_val]

        def fwd(x):
            return model(x)

        def batch(rows):
            return data["dense"][rows]
    opt = _optimizer(opt_name, model, lr)
    loss_fn = nn.functional.cross_entropy
    curve = []
    for step in range(steps + 1):
        if step % eval_every == 0:
            with torch.no_grad():
                curve.append(float(loss_fn(fwd(val_x), labels[:n_val])))
        if step == steps:
            break
        rows = rng.choice(train_rows, 256, replace=False)
        opt.zero_grad()
        loss = loss_fn(fwd(batch(rows)), labels[rows])
        if not torch.isfinite(loss):
            curve += [float("nan")] * (steps // eval_every + 1 - len(curve))
            break
        loss.backward()
        opt.step()
    return curve


def converge(quick: bool) -> dict:
    from vecsmith._progress import progress

    torch.set_num_threads(1)
    data = _prepare(1500 if quick else 4000)
    steps, every = (150, 25) if quick else (600, 50)
    seeds = [0] if quick else [0, 1, 2]
    grid = {k: ([v[1]] if quick else v) for k, v in LR_GRID.items()}
    runs = [(t, o, lr, s) for t in ("sparse", "dense") for o, lrs in grid.items()
            for lr in lrs for s in seeds]
    results: dict = {"steps": steps, "eval_every": every, "seeds": seeds,
                     "n_train": len(data["words"]) - data["n_val"], "n_val": data["n_val"],
                     "curves": {}}
    with progress() as bar:
        task_id = bar.add_task("convergence runs", total=len(runs))
        for task, opt_name, lr, seed in runs:
            t0 = time.perf_counter()
            curve = _run(task, opt_name, lr, seed, data, steps, every)
            key = f"{task}|{opt_name}|{lr:g}"
            results["curves"].setdefault(key, []).append(curve)
            results.setdefault("seconds", {}).setdefault(key, []).append(
                time.perf_counter() - t0)
            bar.advance(task_id)
    summary = []
    for task in ("sparse", "dense"):
        for opt_name, lrs in grid.items():
            per_lr = []
            for lr in lrs:
                curves = np.array(results["curves"][f"{task}|{opt_name}|{lr:g}"])
                lowest = np.nanmin(np.where(np.isnan(curves), np.inf, curves), axis=1)
                per_lr.append({"lr": lr, "lowest": float(lowest.mean()),
                               "lowest_std": float(lowest.std()),
                               "final": float(curves[:, -1].mean()),
                               "seconds": float(np.mean(
                                   results["seconds"][f"{task}|{opt_name}|{lr:g}"]))})
            # best lr: lowest validation loss reached during the run (early stopping's view);
            # the final loss is reported beside it because the sparse task overfits
            best = min(per_lr, key=lambda r: r["lowest"])
            summary.append({"task": task, "optimizer": opt_name, "best_lr": best["lr"],
                            "lowest_val_loss": best["lowest"], "std_over_seeds": best["lowest_std"],
                            "final_val_loss": best["final"],
                            "worst_lr_lowest": max(r["lowest"] for r in per_lr),
                            "seconds_per_run": best["seconds"], "per_lr": per_lr})
    results["summary"] = summary
    _plot(results, grid)
    return results


def _plot(results: dict, grid: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=80)
    every = results["eval_every"]
    for ax, task in zip(axes, ("sparse", "dense"), strict=True):
        for row in results["summary"]:
            if row["task"] != task:
                continue
            curves = np.array(results["curves"][f"{task}|{row['optimizer']}|{row['best_lr']:g}"])
            x = np.arange(curves.shape[1]) * every
            mean = curves.mean(0)
            line, = ax.plot(x, mean, label=f"{row['optimizer']} (lr {row['best_lr']:g})")
            if curves.shape[0] > 1:
                ax.fill_between(x, curves.min(0), curves.max(0), alpha=0.2,
                                color=line.get_color())
        ax.set_title({"sparse": "hashed n-grams, EmbeddingBag(sparse)",
                      "dense": "character counts, MLP (dense)"}[task], fontsize=10)
        ax.set_xlabel("step (batch 256)")
        ax.set_ylabel("validation cross-entropy")
        if task == "sparse":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    n_seeds = len(results["seeds"])
    fig.suptitle(f"word -> language ({len(LANGS)} languages, wordfreq); best lr of a small "
                 f"sweep, mean of {n_seeds} seed(s)", fontsize=10)
    fig.tight_layout()
    OUT.mkdir(exist_ok=True)
    path = OUT / "optim_convergence.png"
    fig.savefig(path)
    plt.close(fig)
    results["png"] = str(path)


# --------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("part", nargs="?", default="all", choices=["speed", "converge", "all"])
    ap.add_argument("--quick", action="store_true", help="small shapes, one seed and one lr")
    ap.add_argument("--threads", type=int, default=1, help="torch threads for the speed part")
    ap.add_argument("--runs", type=int, default=1,
                    help="repeat the whole speed part this many times and print the spread of "
                         "each ratio (the box is shared: one run can be unlucky)")
    ap.add_argument("--keep-png", action="store_true",
                    help="copy the convergence PNG to docs/img/optim_convergence.png")
    args = ap.parse_args()
    # torch's own Adagrad builds sparse tensors without invariant checks and says so each step
    warnings.filterwarnings("ignore", message="Sparse invariant checks")
    OUT.mkdir(exist_ok=True)
    report: dict = {"torch": torch.__version__, "quick": args.quick,
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.part in ("speed", "all"):
        runs = [speed(args.quick, args.threads) for _ in range(args.runs)]
        report["speed"] = runs[-1]
        report["speed_runs"] = runs
        print(f"\n== step time (torch {torch.__version__}, {args.threads} CPU thread(s)); "
              f"best of interleaved repeats; {args.runs} run(s) ==")
        print(f"{'device':6} {'case':38} {'optimizer':36} {'ms/step':>9} {'vs anchor':>9}"
              + ("   ratio over runs: min-max (median)" if args.runs > 1 else ""))
        for k, r in enumerate(runs[-1]):
            ratios = sorted(run[k]["vs_adam_foreach"] for run in runs)
            spread = (f"   {ratios[0]:.2f}-{ratios[-1]:.2f} ({ratios[len(ratios) // 2]:.2f})"
                      if args.runs > 1 else "")
            print(f"{r['device']:6} {r['case']:38} {r['optimizer']:36} "
                  f"{r['ms_per_step']:9.3f} {r['vs_adam_foreach']:8.2f}x{spread}")
    if args.part in ("converge", "all"):
        res = converge(args.quick)
        report["converge"] = res
        print(f"\n== convergence: word -> language, {res['n_train']} train / {res['n_val']} "
              f"validation words, {res['steps']} steps, seeds {res['seeds']} ==")
        print("lowest = lowest validation loss reached (mean over seeds), at the best lr; "
              "worst lr = the same at the sweep's worst lr")
        print(f"{'task':7} {'optimizer':9} {'best lr':>8} {'lowest':>8} {'± seeds':>8} "
              f"{'final':>8} {'worst lr':>9} {'s/run':>6}  all lrs (lowest)")
        for r in res["summary"]:
            sweep = ", ".join(f"{x['lr']:g}: {x['lowest']:.3f}" for x in r["per_lr"])
            print(f"{r['task']:7} {r['optimizer']:9} {r['best_lr']:8g} "
                  f"{r['lowest_val_loss']:8.4f} {r['std_over_seeds']:8.4f} "
                  f"{r['final_val_loss']:8.4f} {r['worst_lr_lowest']:9.4f} "
                  f"{r['seconds_per_run']:6.1f}  {sweep}")
        print(f"loss curves: {res['png']}")
        if args.keep_png:
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copy(res["png"], DOCS_IMG / "optim_convergence.png")
            print(f"copied to {DOCS_IMG / 'optim_convergence.png'}")
    (OUT / "optim.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

"""First answer: a fresh process that opens a small model and asks for two word vectors.

Each row is a new Python process timed from start to exit (interpreter start included), the
median of `--repeat` runs (>= 5), against the official fastText on the same model. The pip
package `fasttext` ships no command-line binary, so the official side is
`python -c "import fasttext; ..."` unless a `fasttext` executable is on PATH (then its
`print-word-vectors` is timed too).

    python benchmarks/bench_first_answer.py                 # gensim's lee_fasttext_new.bin
    python benchmarks/bench_first_answer.py --synthetic     # also a ~6 MB synthetic .bin
    python benchmarks/bench_first_answer.py --cli-only      # only the command-line rows

The command-line rows (`vecsmith --help`, `vecsmith vectors` on the store and the `.bin`) run
`python -m vecsmith` in fresh processes beside the official binding printing the same two
vectors the same way (%.5g), so both sides pay for the interpreter, the import and the output.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IN_VOCAB, OOV = "the", "unseenwordz"

CASES = {
    "python -c 'import numpy' (floor)": "import numpy",
    "vecsmith.store: open + 2 lookups": (
        "from vecsmith import store; v = store.open({store!r}); v[{w!r}]; v[{o!r}]"),
    "vecsmith.fasttext.load_model: open + 2 lookups": (
        "from vecsmith.fasttext import load_model; m = load_model({bin!r}); "
        "m.get_word_vector({w!r}); m.get_word_vector({o!r})"),
    "official fasttext (Python binding): open + 2 lookups": (
        "import fasttext; m = fasttext.load_model({bin!r}); "
        "m.get_word_vector({w!r}); m.get_word_vector({o!r})"),
    "vecsmith.store: first neighbour query (k=10)": (
        "from vecsmith import store; v = store.open({store!r}); v.most_similar({w!r}, k=10)"),
}


def time_process(argv: list[str], repeat: int, stdin: str | None = None,
                 env: dict | None = None) -> tuple[float, float, float]:
    """Median and best wall time of `repeat` fresh processes, and their median CPU time (user
    + system: on a shared, loaded machine the wall time also counts waiting for a core)."""
    times, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True, env=env)
        times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(times), min(times), statistics.median(cpu)


def models(synthetic: bool, tmp: Path) -> list[Path]:
    from vecsmith.datasets import gensim_test_file

    out = [Path(gensim_test_file("lee_fasttext_new.bin"))]
    if synthetic:
        from vecsmith.fasttext.synthetic import write_synthetic_model

        path = tmp / "synthetic-6mb.bin"
        write_synthetic_model(path, nwords=5000, bucket=5000, dim=100)
        out.append(path)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--cli-only", action="store_true",
                    help="time only the command-line rows and the official binding")
    ap.add_argument("--baseline-src", type=Path, default=None,
                    help="also time the vecsmith rows with this `src` folder first on the path "
                         "(e.g. the main checkout's, for a before/after in one run)")
    args = ap.parse_args()
    if args.repeat < 5:
        ap.error("--repeat must be >= 5 (a median of at least 5 fresh processes)")
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for bin_path in models(args.synthetic, tmp):
            from vecsmith.store import convert_fasttext

            store_path = tmp / (bin_path.stem + ".store")
            convert_fasttext(bin_path, store_path, quiet=True)
            size = bin_path.stat().st_size / 1e6
            store_mb = store_path.stat().st_size / 1e6
            print(f"\n{bin_path.name} ({size:.1f} MB .bin, store {store_mb:.1f} MB), "
                  f"{args.repeat} fresh processes each:")
            print("| what | median wall s | best wall s | median CPU s |\n|---|---:|---:|---:|")
            fmt = {"store": str(store_path), "bin": str(bin_path), "w": IN_VOCAB, "o": OOV}
            for name, code in CASES.items():
                if args.cli_only and "floor" not in name:
                    continue
                med, best, cpu = time_process([py, "-c", code.format(**fmt)], args.repeat)
                print(f"| {name} | {med:.3f} | {best:.3f} | {cpu:.3f} |")
                if args.baseline_src and "vecsmith" in name:
                    env = {**os.environ, "PYTHONPATH": str(args.baseline_src.resolve())}
                    med, best, cpu = time_process([py, "-c", code.format(**fmt)], args.repeat,
                                                  env=env)
                    print(f"| {name}, baseline `{args.baseline_src}` | {med:.3f} | {best:.3f} | "
                          f"{cpu:.3f} |")
            official = ("import fasttext, sys; m = fasttext.load_model({bin!r}); "
                        "w = sys.stdout.write; "
                        "[w(x + ' ' + ''.join(f'{{v:.5g}} ' for v in m.get_word_vector(x)) "
                        "+ '\\n') for x in ({w!r}, {o!r})]").format(**fmt)
            for name, argv, src in (
                    ("`vecsmith --help`", [py, "-m", "vecsmith", "--help"], True),
                    ("`vecsmith vectors STORE the unseenwordz`",
                     [py, "-m", "vecsmith", "vectors", str(store_path), IN_VOCAB, OOV], True),
                    ("`vecsmith vectors MODEL.bin the unseenwordz`",
                     [py, "-m", "vecsmith", "vectors", str(bin_path), IN_VOCAB, OOV], True),
                    ("official fastText binding printing the same two vectors",
                     [py, "-c", official], False)):
                try:
                    med, best, cpu = time_process(argv, args.repeat)
                    print(f"| {name} | {med:.3f} | {best:.3f} | {cpu:.3f} |")
                    if args.baseline_src and src:
                        env = {**os.environ,
                               "PYTHONPATH": str(args.baseline_src.resolve())}
                        med, best, cpu = time_process(argv, args.repeat, env=env)
                        print(f"| {name}, baseline `{args.baseline_src}` | {med:.3f} | "
                              f"{best:.3f} | {cpu:.3f} |")
                except subprocess.CalledProcessError as exc:
                    print(f"| {name} | failed ({exc.returncode}) | | |")
            exe = shutil.which("fasttext")
            if exe:
                med, best, cpu = time_process([exe, "print-word-vectors", str(bin_path)],
                                              args.repeat, stdin=f"{IN_VOCAB}\n{OOV}\n")
                print(f"| official `fasttext print-word-vectors` | {med:.3f} | {best:.3f} | "
                      f"{cpu:.3f} |")
            else:
                print("| official `fasttext print-word-vectors` | no binary on PATH (the pip "
                      "package has none) | | |")
    print(f"\n{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()

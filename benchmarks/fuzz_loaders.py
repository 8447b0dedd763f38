"""Long run of the standing fuzz suite: thousands of seeded mutants per loader.

The harness is tests/fuzz/harness.py (the same one the test suite runs with a few dozen): small
valid files per loader, mutated (bit flips, size fields set to extremes, truncations, appended
garbage, spliced blocks, JSON type changes in safetensors headers), loaded and queried in a
child process under an address-space limit (largest seed + 512 MB) with a timeout per file.
Allowed outcomes: "ok" (loaded and answered one query) or "typed" (the loader's own error);
anything else is printed with the saved mutant's path.

    python benchmarks/fuzz_loaders.py                 # 2000 per loader (about 10 min, 2 cores)
    python benchmarks/fuzz_loaders.py --n 200 --seed 3
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))

from harness import LOADERS, build_seeds, fuzz


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="mutants per loader")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per mutant")
    ap.add_argument("--loaders", nargs="*", default=list(LOADERS))
    ap.add_argument("--json", type=Path, help="also write the counts here")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vecsmith-fuzz-"))
    seeds = build_seeds(work / "seeds")
    start = time.perf_counter()
    reports = fuzz({k: seeds[k] for k in args.loaders}, args.n, seed=args.seed,
                   timeout=args.timeout, workdir=work)
    print(f"# {args.n} mutants per loader, seed {args.seed}, {platform.machine()}, "
          f"{time.perf_counter() - start:.0f} s; findings kept under {work}")
    print(f"{'loader':10} {'ok':>6} {'typed':>6} {'untyped':>8} {'crash':>6} {'hang':>5} "
          f"{'memory':>7} {'s':>6}")
    out = {}
    for name, r in reports.items():
        c = r.counts
        print(f"{name:10} {c['ok']:6} {c['typed']:6} {c['untyped']:8} {c['crash']:6} "
              f"{c['hang']:5} {c['memory']:7} {r.seconds:6.0f}")
        out[name] = {**{k: v for k, v in c.items()}, "findings": r.findings[:20]}
    for name, r in reports.items():
        seen = set()
        for f in r.findings:
            key = (f["outcome"], f["detail"][:50])
            if key not in seen:
                seen.add(key)
                print(f"  {name}: {f['kind']} -> {f['outcome']}: {f['detail'][:160]} "
                      f"({f['file']})")
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

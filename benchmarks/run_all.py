"""Run every benchmark script side by side with its anchor (quick mode unless --full).

    python benchmarks/run_all.py            # each bench_*.py --quick: a few minutes in all
    python benchmarks/run_all.py --full     # the full sizes quoted in RESULTS.md (hours)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main() -> int:
    full = "--full" in sys.argv[1:]
    here = Path(__file__).parent
    failed = []
    for script in sorted(here.glob("bench_*.py")):
        cmd = [sys.executable, str(script)] + ([] if full else ["--quick"])
        print(f"\n=== {' '.join(cmd[1:])}", flush=True)
        start = time.perf_counter()
        if subprocess.run(cmd).returncode != 0:
            failed.append(script.name)
        print(f"=== {script.name}: {time.perf_counter() - start:.0f} s", flush=True)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The standing fuzz suite: seeded mutants of small valid files through every loader.

Each loader gets the same number of mutants (bit flips, size fields set to extremes,
truncations, appended garbage, spliced blocks, JSON type changes in safetensors headers), run
in one child process under an address-space limit (largest seed + 512 MB over its size after
imports) with a timeout per file. Allowed: a working model that answers one query, or the
loader's typed error. benchmarks/fuzz_loaders.py runs the same harness with thousands.
"""

from __future__ import annotations

import pytest
from harness import LOADERS, build_seeds, fuzz

N_PER_LOADER = 25  # ~30 s for all loaders on the shared 2-core box, seeds and worker included


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    seeds = build_seeds(tmp_path_factory.mktemp("seeds"))
    return fuzz(seeds, N_PER_LOADER, seed=2026, timeout=60.0,
                workdir=tmp_path_factory.mktemp("mutants"))


@pytest.mark.parametrize("loader", LOADERS)
def test_mutants_load_or_raise_the_typed_error(reports, loader):
    report = reports[loader]
    assert report.counts["ok"] + report.counts["typed"] + len(report.findings) == N_PER_LOADER
    assert report.counts["typed"] > 0  # the mutations do reach the validation
    assert not report.findings, "\n".join(
        f"{f['kind']} mutant of {f['seed']} -> {f['outcome']}: {f['detail']} ({f['file']})"
        for f in report.findings)


def test_harness_catches_a_crash_and_an_untyped_error(tmp_path):
    """The harness itself can fail: an unknown loader name is an untyped error, and a loader
    that segfaults is a crash, not a hang or a pass."""
    from harness import _Worker

    w = _Worker(512 << 20)
    try:
        assert w.ask("no-such-loader", tmp_path / "x", timeout=30)["outcome"] == "untyped"
        answer = w.ask("_segfault", tmp_path / "x", timeout=30)
        assert answer["outcome"] == "crash" and "-11" in answer["detail"]
    finally:
        w.close()

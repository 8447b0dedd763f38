"""vecsmith.neighbours: equal scores come out in the order fastText's getNN heap leaves them.

The oracle is fastText's own loop compiled against the C++ standard library (its
`std::push_heap`/`pop_heap`/`sort_heap` decide the order of ties), fed the same scores."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from vecsmith.neighbours import analogy_query, heap_order, rank

GETNN = r"""
#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>
// FastText::getNN's loop (fastText 0.9.2, src/fasttext.cc), scores given instead of dots.
bool comparePairs(const std::pair<float, int>& l, const std::pair<float, int>& r) {
  return l.first > r.first;
}
int main() {
  int n, k;
  if (scanf("%d %d", &n, &k) != 2) return 1;
  std::vector<std::pair<float, int>> heap;
  for (int i = 0; i < n; i++) {
    float similarity;
    if (scanf("%f", &similarity) != 1) return 1;
    if (heap.size() == (size_t)k && similarity < heap.front().first) continue;
    heap.push_back(std::make_pair(similarity, i));
    std::push_heap(heap.begin(), heap.end(), comparePairs);
    if (heap.size() > (size_t)k) {
      std::pop_heap(heap.begin(), heap.end(), comparePairs);
      heap.pop_back();
    }
  }
  std::sort_heap(heap.begin(), heap.end(), comparePairs);
  for (auto& p : heap) printf("%d\n", p.second);
  return 0;
}
"""


@pytest.fixture(scope="module")
def getnn(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("needs a C++ compiler for the std::heap oracle")
    d = tmp_path_factory.mktemp("getnn")
    (d / "getnn.cc").write_text(GETNN)
    subprocess.run([cxx, "-O2", "-o", str(d / "getnn"), str(d / "getnn.cc")], check=True)

    def run(scores: np.ndarray, k: int) -> list[int]:
        text = f"{len(scores)} {k}\n" + "\n".join(f"{s:.9g}" for s in scores.tolist())
        out = subprocess.run([str(d / "getnn")], input=text, capture_output=True, text=True,
                             check=True).stdout
        return [int(x) for x in out.split()]

    return run


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_ties_follow_fasttext_heap_order(getnn, seed, k):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    levels = rng.integers(2, 8)  # few distinct values: many exact ties
    scores = (rng.integers(0, levels, n) / levels).astype(np.float32)
    expected = getnn(scores, k)
    ids, got = rank(scores, k)
    assert ids.tolist() == expected
    assert np.array_equal(got, scores[expected])
    assert heap_order(scores, k)[0].tolist() == expected


def test_without_ties_order_is_by_score(getnn):
    scores = np.random.default_rng(1).random(5000).astype(np.float32)
    ids, _ = rank(scores, 10)
    assert ids.tolist() == getnn(scores, 10) == np.argsort(-scores)[:10].tolist()


def test_nonfinite_rows_and_banned_ids_are_never_answers():
    scores = np.array([0.9, np.nan, np.inf, 0.5, -np.inf, 0.7, 0.9], dtype=np.float32)
    ids, vals = rank(scores, 10, ban=[0])
    assert ids.tolist() == [6, 5, 3]
    assert np.all(np.isfinite(vals))
    sub_ids, _ = rank(scores[[3, 5, 6]], 2, ban=[6], ids=np.array([3, 5, 6]))
    assert sub_ids.tolist() == [5, 3]
    assert rank(scores, 0)[0].size == 0


def test_analogy_query_is_fasttexts():
    a, b, c = (np.array(v, np.float32) for v in ([3, 4], [0, 2], [1, 0]))
    q = analogy_query([a, b, c])
    expected = a / np.float32(5 + 1e-8) - b / np.float32(2 + 1e-8) + c / np.float32(1 + 1e-8)
    assert np.allclose(q, expected, atol=1e-7) and q.dtype == np.float32

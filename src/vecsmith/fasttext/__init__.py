"""Read fastText `.bin`/`.ftz` models exactly as the official C++ code does, memory-mapped.

    >>> from vecsmith.fasttext import load_model
    >>> m = load_model("cc.en.300.bin")          # opens in about a second, matrices stay on disk
    >>> m.get_word_vector("unseenword")          # n-gram average, bit-identical to fastText
    >>> m.get_word_vectors(["many", "words"])   # one compiled call for a whole batch

The names below load their module on first use, so a light submodule (`init_rows`, which a
compressed store's reader needs) does not import the whole reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vecsmith._lazy import lazy_names

if TYPE_CHECKING:
    from vecsmith.fasttext.format import Args, FastTextFormatError, ModelFile, read_model_file
    from vecsmith.fasttext.model import FastTextModel, load_model

_HOME = {"Args": "format", "FastTextFormatError": "format", "ModelFile": "format",
         "read_model_file": "format", "FastTextModel": "model", "load_model": "model"}
__all__ = ["Args", "FastTextFormatError", "FastTextModel", "ModelFile", "load_model",
           "read_model_file"]


__getattr__, __dir__ = lazy_names(__name__, _HOME)

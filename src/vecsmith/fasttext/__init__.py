"""Read fastText `.bin`/`.ftz` models exactly as the official C++ code does, memory-mapped.

    >>> from vecsmith.fasttext import load_model
    >>> m = load_model("cc.en.300.bin")          # opens in about a second, matrices stay on disk
    >>> m.get_word_vector("unseenword")          # n-gram average, bit-identical to fastText
    >>> m.get_word_vectors(["many", "words"])   # one compiled call for a whole batch
"""

from vecsmith.fasttext.format import Args, FastTextFormatError, ModelFile, read_model_file
from vecsmith.fasttext.model import FastTextModel, load_model

__all__ = ["Args", "FastTextFormatError", "FastTextModel", "ModelFile", "load_model",
           "read_model_file"]

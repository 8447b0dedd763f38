"""Character vocabulary: ids for characters seen in training, UNK for the rest, saved as JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

PAD = 0
UNK = 1
_SPECIALS = 2


class CharVocab:
    """Map characters to ids; id 0 pads, id 1 stands for any character not seen in training.

    Built once from training texts and stored in the model's JSON config, so a loaded
    model encodes text exactly as it did when it was trained.
    """

    def __init__(self, chars: Sequence[str]):
        seen: set[str] = set()
        for ch in chars:
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"vocabulary entries must be single characters, got {ch!r}")
            if ch in seen:
                raise ValueError(f"duplicate character {ch!r} in vocabulary")
            seen.add(ch)
        self.chars: list[str] = list(chars)
        self._index = {ch: i + _SPECIALS for i, ch in enumerate(self.chars)}

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, max_size: int | None = None
              ) -> CharVocab:
        """Vocabulary of characters occurring at least `min_count` times, most frequent first."""
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text)
        items = sorted((c for c in counts.items() if c[1] >= min_count),
                       key=lambda kv: (-kv[1], kv[0]))
        if max_size is not None:
            items = items[:max_size]
        return cls([ch for ch, _ in items])

    def __len__(self) -> int:
        """Number of ids, PAD and UNK included (the embedding table's row count)."""
        return len(self.chars) + _SPECIALS

    def __contains__(self, ch: str) -> bool:
        return ch in self._index

    def encode(self, text: str) -> list[int]:
        """Ids for the characters of `text`; unseen characters become UNK."""
        get = self._index.get
        return [get(ch, UNK) for ch in text]

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TypeError(f"text {i} is {type(t).__name__}, expected str")
        return [self.encode(t) for t in texts]

    def decode(self, ids: Iterable[int]) -> str:
        """Characters for `ids` (PAD dropped, UNK shown as U+FFFD)."""
        out = []
        for i in ids:
            if i == PAD:
                continue
            out.append("\ufffd" if i == UNK else self.chars[i - _SPECIALS])
        return "".join(out)

    def to_json(self) -> dict:
        return {"pad": PAD, "unk": UNK, "chars": "".join(self.chars)}

    @classmethod
    def from_json(cls, data: dict) -> CharVocab:
        if data.get("pad") != PAD or data.get("unk") != UNK:
            raise ValueError("vocabulary uses a different PAD/UNK layout")
        chars = data.get("chars")
        if not isinstance(chars, str):
            raise ValueError("vocabulary 'chars' must be a string")
        return cls(list(chars))

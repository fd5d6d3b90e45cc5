"""Recent masks, so a repeat edit (the same photo with another background, crop or size)
skips inference.

A mask is kept at the model's size (100 KB for U²-Net, 1 MB for a 1024² model), keyed by
everything that decides it: the upload's bytes (sha256), the model, its recipe and the
checksum of the weights that ran. Output options are not in the key: they are applied to
the mask afterwards, so any of them can be served from one entry. Bounded in bytes, least
recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MaskKey:
    upload_sha256: str
    model: str
    recipe: str  # Role.recipe_digest: size, resize, scaling, activation
    weights_sha256: str  # the runner's own word: a redeployed runner with new weights misses


class MaskCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = self.misses = 0
        self._masks: OrderedDict[MaskKey, np.ndarray] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def get(self, key: MaskKey) -> np.ndarray | None:
        mask = self._masks.get(key)
        if mask is None:
            self.misses += 1
            return None
        self._masks.move_to_end(key)
        self.hits += 1
        return mask

    def put(self, key: MaskKey, mask: np.ndarray) -> None:
        if not self.enabled or mask.nbytes > self.max_bytes or key in self._masks:
            return
        mask = mask.copy()  # never a view of a buffer someone else may change
        mask.flags.writeable = False
        self._masks[key] = mask
        self.bytes += mask.nbytes
        while self.bytes > self.max_bytes:
            _, evicted = self._masks.popitem(last=False)
            self.bytes -= evicted.nbytes

    def __len__(self) -> int:
        return len(self._masks)

"""The KV cache as fixed-size blocks (PagedAttention): a budget, what is in use, the peak."""

from __future__ import annotations

from sim.errors import SimError


class KvBlocks:
    """``total`` blocks of ``block_tokens`` tokens each."""

    __slots__ = ("total", "used", "peak", "block_tokens")

    def __init__(self, total: int, block_tokens: int) -> None:
        self.total = total
        self.block_tokens = block_tokens
        self.used = 0
        self.peak = 0

    def blocks(self, tokens: int) -> int:
        """Blocks that hold ``tokens`` tokens."""
        return -(-tokens // self.block_tokens)

    @property
    def free(self) -> int:
        return self.total - self.used

    def alloc(self, n: int) -> None:
        if n > self.total - self.used:
            raise SimError(f"KV cache over budget: {self.used} + {n} > {self.total} blocks")
        self.used += n
        if self.used > self.peak:
            self.peak = self.used

    def release(self, n: int) -> None:
        self.used -= n

"""The requests in their decode phase, kept so one decode step costs O(1), not O(batch).

Every decode step advances every member by one token, so a member's state is its state
when it joined plus the steps run since (``join_step``). The set keeps the totals the cost
model needs (count, cached tokens), a heap of finish steps, and how many members need a
new KV block at the next step: a member with ``c`` cached tokens needs one when
``c % block_tokens == 0``; since ``c`` grows with the step count, members are counted by
``(c - step) mod block_tokens`` at joining.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

from sim.des.request import Request


class DecodeSet:
    __slots__ = ("step", "count", "cached", "_members", "_finish", "_phase", "_bt", "_ticket")

    def __init__(self, block_tokens: int) -> None:
        self.step = 0          # decode steps run so far
        self.count = 0
        self.cached = 0        # cached tokens summed over members
        self._members: dict[int, Request] = {}   # insertion order: the newest is last
        self._finish: list[tuple[int, int, Request]] = []
        self._phase = [0] * block_tokens
        self._bt = block_tokens
        self._ticket = 0

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Request]:
        return iter(self._members.values())

    def add(self, req: Request) -> None:
        """``req`` has sampled ``generated`` tokens and holds ``cached`` tokens of KV."""
        req.join_step = self.step
        req.phase_key = (req.cached - self.step) % self._bt
        self._ticket += 1
        req.ticket = self._ticket
        self._phase[req.phase_key] += 1
        self._members[req.id] = req
        self.count += 1
        self.cached += req.cached
        heapq.heappush(self._finish, (self.step + req.output_len - req.generated, self._ticket, req))

    def sync(self, req: Request) -> None:
        """Bring ``req.cached`` and ``req.generated`` up to the current step."""
        d = self.step - req.join_step
        req.cached += d
        req.generated += d
        req.join_step = self.step

    def remove(self, req: Request) -> None:
        """Take ``req`` out (preemption); its state is synced first."""
        self.sync(req)
        del self._members[req.id]
        self._phase[req.phase_key] -= 1
        self.count -= 1
        self.cached -= req.cached

    def newest(self) -> Request:
        return next(reversed(self._members.values()))

    def new_blocks(self) -> int:
        """KV blocks the next step needs (members whose cache fills its last block)."""
        return self._phase[-self.step % self._bt]

    def advance(self) -> list[Request]:
        """Run one step; the members that have produced all their tokens leave (synced)."""
        self.cached += self.count
        self.step += 1
        done = []
        heap = self._finish
        while heap and heap[0][0] <= self.step:
            _, ticket, req = heapq.heappop(heap)
            if req.ticket == ticket and self._members.get(req.id) is req:
                self.remove(req)
                done.append(req)
        return done

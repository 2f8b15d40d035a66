"""Static batching (the request-level baseline of Orca, OSDI'22): when the chip is idle,
take up to ``max_seqs`` waiting requests, prefill them (whole prompts, in passes of at
most ``max_batched_tokens``), then decode until the last one finishes; nothing joins a
running batch. Each request reserves KV blocks for its whole context (input + output) at
admission, as static engines preallocate, so it is never preempted. Requests that finish
early stop costing compute."""

from __future__ import annotations

from sim.des.policies.base import Iteration, Policy, policy
from sim.des.request import Request


@policy("static")
class StaticBatching(Policy):
    reserves_full_context = True

    def schedule(self, now: float) -> Iteration | None:
        if not self.prefilling and not self.decoding.count:
            self._admit_batch(now)
        if self.prefilling:
            chunks: list[tuple[Request, int]] = []
            tokens = 0
            for req in self.prefilling:
                if chunks and tokens + req.to_prefill > self.token_budget:
                    break
                chunks.append((req, req.to_prefill))
                tokens += req.to_prefill
            return Iteration(chunks, 0, 0)
        if self.decoding.count:
            return Iteration([], self.decoding.count, self.decoding.cached)
        return None

    def _admit_batch(self, now: float) -> None:
        while self.waiting and len(self.prefilling) < self.spec.max_seqs:
            need = self.kv.blocks(self.waiting[0].max_context)
            if need > self.kv.free:
                return
            self.kv.alloc(need)
            self._start_prefill(self.waiting[0], now)

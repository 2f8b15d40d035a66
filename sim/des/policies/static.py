"""Static batching (the request-level baseline of Orca, OSDI'22): when the chip is idle,
take up to ``max_seqs`` waiting requests, prefill them together, then decode until the
last one finishes; nothing joins a running batch. Each request reserves KV blocks for
its whole context (input + output) at admission, as static engines preallocate, so it is
never preempted. Requests that finish early stop costing compute."""

from __future__ import annotations

from sim.des.policies.base import Iteration, Policy, policy


@policy("static")
class StaticBatching(Policy):
    reserves_full_context = True

    def schedule(self, now: float) -> Iteration | None:
        if self.decoding.count:
            return Iteration([], self.decoding.count, self.decoding.cached)
        chunks = []
        tokens = 0
        while self.waiting and len(chunks) < self.spec.max_seqs:
            req = self.waiting[0]
            need = self.kv.blocks(req.max_context)
            if chunks and (tokens + req.to_prefill > self.spec.max_batched_tokens or need > self.kv.free):
                break
            self.kv.alloc(need)
            self._start_prefill(req, now)
            chunks.append((req, req.to_prefill))
            tokens += req.to_prefill
        return Iteration(chunks, 0, 0) if chunks else None

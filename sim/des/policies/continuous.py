"""Continuous (iteration-level) batching, as Orca (OSDI'22) and vLLM's default scheduler
without chunked prefill do it: each iteration first admits waiting prompts whole (up to
``max_seqs`` running and ``max_batched_tokens`` prompt tokens, if their KV blocks fit)
and runs a prefill-only pass; when none can be admitted, every running request decodes
one token. A decode step that needs a block when none is free preempts the newest
running request (recompute)."""

from __future__ import annotations

from sim.des.policies.base import Iteration, Policy, policy


@policy("continuous")
class ContinuousBatching(Policy):
    def schedule(self, now: float) -> Iteration | None:
        self._admit_transferred(now)
        chunks = []
        tokens = 0
        while self.waiting and self.running < self.spec.max_seqs:
            req = self.waiting[0]
            new = req.to_prefill
            if not new:  # KV arrived from a prefill pool: waits for blocks, not compute
                break
            need = self.kv.blocks(req.target)
            if tokens + new > self.token_budget or need > self.kv.free:
                break
            self.kv.alloc(need)
            self._start_prefill(req, now)
            chunks.append((req, new))
            tokens += new
        if chunks:
            return Iteration(chunks, 0, 0)
        if not self.decoding.count:
            return None
        self._grow_decode(now)
        return Iteration([], self.decoding.count, self.decoding.cached)

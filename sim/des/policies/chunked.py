"""Chunked prefill (Sarathi-Serve, OSDI'24; vLLM's chunked-prefill scheduler): every
iteration decodes all running requests first, then fills the rest of the
``max_batched_tokens`` budget with prompt chunks: unfinished prompts first, then new
requests in arrival order, splitting a prompt where the budget ends. Decode blocks are
reserved first, preempting the newest running request (recompute) when none is free;
a chunk waits when its blocks do not fit."""

from __future__ import annotations

from sim.des.policies.base import Iteration, Policy, policy


@policy("chunked")
class ChunkedPrefill(Policy):
    chunks_prompts = True

    def schedule(self, now: float) -> Iteration | None:
        self._admit_transferred(now)
        if self.decoding.count:
            self._grow_decode(now)
        budget = self.token_budget - self.decoding.count
        chunks = []
        for req in self.prefilling:
            if budget <= 0:
                break
            new = self._chunk(req, budget)
            if not new:
                break
            chunks.append((req, new))
            budget -= new
        while budget > 0 and self.waiting and self.running < self.spec.max_seqs:
            req = self.waiting[0]
            if not req.to_prefill:  # KV arrived from a prefill pool: waits for blocks
                break
            new = self._chunk(req, budget)
            if not new:
                break
            self._start_prefill(req, now)
            chunks.append((req, new))
            budget -= new
        if not chunks and not self.decoding.count:
            if len(self.prefilling) > 1:  # partial prompts hold every free block: free the newest
                self._preempt(self.prefilling.pop(), "prefill", now)
                return self.schedule(now)
            return None
        return Iteration(chunks, self.decoding.count, self.decoding.cached)

    def _chunk(self, req, budget: int) -> int:
        """Tokens of ``req``'s prompt to run now (0 if its blocks do not fit); allocates them."""
        new = min(req.to_prefill, budget)
        need = self.kv.blocks(req.cached + new) - self.kv.blocks(req.cached)
        if need > self.kv.free:
            return 0
        self.kv.alloc(need)
        return new

"""What every batching policy shares: the waiting queue, the decode set, KV blocks,
recompute preemption, and what happens when an iteration ends.

A policy is one module in this package with a ``Policy`` subclass decorated
``@policy("name")``. The engine calls ``schedule`` for the next iteration (None when
idle), costs it, advances the clock, then calls ``complete``.
"""

from __future__ import annotations

from collections import deque
from typing import ClassVar

from sim.des.decodeset import DecodeSet
from sim.des.kvcache import KvBlocks
from sim.des.request import Request
from sim.des.spec import VLLM_MAX_NUM_BATCHED_TOKENS, Scheduler
from sim.errors import ConfigError

_POLICIES: dict[str, type[Policy]] = {}


def policy(name: str):
    """Class decorator: register a Policy subclass under ``name``."""

    def register(cls: type[Policy]) -> type[Policy]:
        cls.name = name
        _POLICIES[name] = cls
        return cls

    return register


def policy_class(name: str) -> type[Policy]:
    if name not in _POLICIES:
        raise ConfigError(f"unknown scheduler policy {name!r}; known: {', '.join(sorted(_POLICIES))}")
    return _POLICIES[name]


def registered_policies() -> list[str]:
    return sorted(_POLICIES)


def token_budget(spec: Scheduler, requests: list[Request]) -> int:
    """Tokens one iteration may run: ``max_batched_tokens`` when set; otherwise vLLM's
    defaults: 2048 with chunked prefill, and without it max(longest request, 2048), as a
    whole prompt (and its recompute) must fit one pass (vLLM v0 SchedulerConfig)."""
    if spec.max_batched_tokens is not None:
        return spec.max_batched_tokens
    if policy_class(spec.policy).chunks_prompts:
        return VLLM_MAX_NUM_BATCHED_TOKENS
    return max(VLLM_MAX_NUM_BATCHED_TOKENS, max((r.max_context for r in requests), default=1))


class Iteration:
    """One forward pass: prefill chunks ``(request, new tokens)`` and, when ``decode``,
    one token for every member of the decode set."""

    __slots__ = ("chunks", "decode", "decode_count", "decode_cached", "sampled")

    def __init__(self, chunks: list[tuple[Request, int]], decode_count: int, decode_cached: int) -> None:
        self.chunks = chunks
        self.decode = decode_count > 0
        self.decode_count = decode_count
        self.decode_cached = decode_cached
        self.sampled = decode_count + sum(1 for r, n in chunks if r.cached + n == r.target)

    @property
    def prefill(self) -> list[tuple[int, int]]:
        """(new, cached) per chunk, as the cost model takes them."""
        return [(n, r.cached) for r, n in self.chunks]

    @property
    def prefill_tokens(self) -> int:
        return sum(n for _, n in self.chunks)


class Policy:
    """Shared state and mechanics; subclasses decide what each iteration runs.

    ``hand_off``: prefill-only pool of a disaggregated deployment; a request whose prefill
    completes is returned by ``complete`` as handed off and keeps its blocks until
    ``release``.
    """

    name: ClassVar[str] = ""
    reserves_full_context: ClassVar[bool] = False  # blocks for input + output at admission
    chunks_prompts: ClassVar[bool] = False         # may split a prompt across iterations

    def __init__(self, spec: Scheduler, kv_blocks: int, hand_off: bool = False) -> None:
        if spec.max_batched_tokens is None:
            raise ValueError("a policy needs the resolved token budget (sim.des.engine sets it)")
        self.spec = spec
        self.token_budget: int = spec.max_batched_tokens
        self.kv = KvBlocks(kv_blocks, spec.block_tokens)
        self.waiting: deque[Request] = deque()
        self.decoding = DecodeSet(spec.block_tokens)
        self.prefilling: list[Request] = []   # admitted, prompt not finished
        self.hand_off = hand_off
        self.preemptions = 0

    # --- engine interface ---------------------------------------------------------------

    def enqueue(self, req: Request, now: float) -> None:
        req.mark_s = now
        self.waiting.append(req)

    def schedule(self, now: float) -> Iteration | None:
        raise NotImplementedError

    def complete(self, it: Iteration, now: float) -> tuple[list[Request], list[Request]]:
        """Apply ``it`` at time ``now``: (finished requests, handed-off requests)."""
        finished = self.decoding.advance() if it.decode else []
        for r in finished:
            self._finish(r, now)
        handed = []
        for r, n in it.chunks:
            r.cached += n
            if r.cached < r.target:
                continue
            self.prefilling.remove(r)
            r.generated += 1
            r.span("prefill", now)
            if r.first_token_s < 0:
                r.first_token_s = now
            if r.generated >= r.output_len:
                self._finish(r, now)
                finished.append(r)
            elif self.hand_off:
                handed.append(r)
            else:
                self.decoding.add(r)
        return finished, handed

    def release(self, req: Request) -> None:
        """Free a handed-off request's blocks once its KV cache has left."""
        self.kv.release(self._held(req))

    @property
    def running(self) -> int:
        return len(self.decoding) + len(self.prefilling)

    # --- mechanics ----------------------------------------------------------------------

    def _held(self, req: Request) -> int:
        return self.kv.blocks(req.max_context if self.reserves_full_context else req.cached)

    def _finish(self, req: Request, now: float) -> None:
        req.finish_s = now
        req.span("decode", now)
        self.kv.release(self._held(req))

    def _start_prefill(self, req: Request, now: float) -> None:
        """Admit ``req`` from the head of the waiting queue into the prefilling list."""
        self.waiting.popleft()
        req.span("queued", now)
        if req.admitted_s < 0:
            req.admitted_s = now
        self.prefilling.append(req)

    def _admit_transferred(self, now: float) -> None:
        """Requests whose KV arrived from a prefill pool join the decode set when their
        blocks fit (decode pool of a disaggregated deployment)."""
        while self.waiting and self.waiting[0].to_prefill == 0 and self.running < self.spec.max_seqs:
            req = self.waiting[0]
            need = self.kv.blocks(req.cached)
            if need > self.kv.free:
                return
            self.kv.alloc(need)
            self.waiting.popleft()
            req.span("queued", now)
            self.decoding.add(req)

    def _grow_decode(self, now: float) -> None:
        """Reserve the blocks the next decode step needs, preempting the newest running
        requests (recompute: their KV is dropped and they re-queue at the front) until
        they fit."""
        need = self.decoding.new_blocks()
        while need > self.kv.free:
            if self.prefilling:
                self._preempt(self.prefilling.pop(), "prefill", now)
            else:
                victim = self.decoding.newest()
                self.decoding.remove(victim)
                self._preempt(victim, "decode", now)
            need = self.decoding.new_blocks()
        self.kv.alloc(need)

    def _preempt(self, req: Request, phase: str, now: float) -> None:
        self.kv.release(self._held(req))
        req.span(phase, now)
        req.cached = 0
        req.target = req.input_len + req.generated
        req.preemptions += 1
        self.preemptions += 1
        self.waiting.appendleft(req)

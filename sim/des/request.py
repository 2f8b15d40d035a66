"""One request's state and timeline as the engine serves it."""

from __future__ import annotations


class Request:
    """A prompt of ``input_len`` tokens that wants ``output_len`` generated tokens.

    ``cached``: tokens whose KV is in the cache; ``generated``: tokens sampled so far.
    Prefilling means computing ``input_len + generated`` tokens (all of them again after a
    recompute preemption); the prefill's last step samples the next token. ``spans`` is
    the timeline as (name, start_s, end_s) for the trace.
    """

    __slots__ = ("id", "arrival_s", "input_len", "output_len", "cached", "generated", "target",
                 "first_token_s", "finish_s", "admitted_s", "preemptions", "spans", "mark_s",
                 "replica", "join_step", "phase_key", "ticket")

    def __init__(self, rid: int, arrival_s: float, input_len: int, output_len: int) -> None:
        self.id = rid
        self.arrival_s = arrival_s
        self.input_len = input_len
        self.output_len = output_len
        self.cached = 0
        self.generated = 0
        self.target = input_len
        self.first_token_s = -1.0
        self.finish_s = -1.0
        self.admitted_s = -1.0
        self.preemptions = 0
        self.spans: list[tuple[str, float, float]] = []
        self.mark_s = arrival_s  # start of the current span
        self.replica = -1
        self.join_step = 0
        self.phase_key = 0
        self.ticket = 0

    def span(self, name: str, now: float) -> None:
        """Close the current span as ``name`` and start the next one at ``now``."""
        self.spans.append((name, self.mark_s, now))
        self.mark_s = now

    @property
    def max_context(self) -> int:
        return self.input_len + self.output_len

    @property
    def to_prefill(self) -> int:
        """Tokens still to compute before the next token can be sampled."""
        return self.target - self.cached

"""A run as a Chrome / Perfetto trace (the "traceEvents" JSON that ui.perfetto.dev and
chrome://tracing open): one process per chip with its iterations on a compute track and
counters for waiting requests and KV blocks in use; one process holding a track per
request with its queued, prefill, transfer and decode spans. A simulated training step
(``pipeline_trace``) has one process per pipeline stage. Times in microseconds."""

from __future__ import annotations

from sim.des.pipeline import COMPUTE, DP, SEND, PipelineResult
from sim.des.record import ServingResult

US_PER_S = 1e6
REQUESTS_PID = 0


def perfetto_trace(res: ServingResult, max_requests: int | None = 1000) -> dict:
    """The trace as a JSON-ready dict; request tracks for the first ``max_requests``."""
    ev: list[dict] = [_meta("process_name", REQUESTS_PID, 0, "requests")]
    for chip in sorted(set(res.iter_replica.tolist())):
        ev.append(_meta("process_name", chip + 1, 0, f"chip {chip}"))
        ev.append(_meta("thread_name", chip + 1, 1, "compute"))
    for i in range(res.iterations):
        pid = int(res.iter_replica[i]) + 1
        pre, dec = int(res.iter_prefill_tokens[i]), int(res.iter_decode[i])
        name = "mixed" if pre and dec else ("prefill" if pre else "decode")
        ts = float(res.iter_start_s[i]) * US_PER_S
        ev.append({"name": name, "ph": "X", "pid": pid, "tid": 1, "ts": ts,
                   "dur": float(res.iter_dur_s[i]) * US_PER_S,
                   "args": {"prefill_tokens": pre, "decode_requests": dec}})
        ev.append({"name": "state", "ph": "C", "pid": pid, "ts": ts,
                   "args": {"waiting": int(res.iter_waiting[i]), "kv_blocks_used": int(res.iter_kv_used[i])}})
    for r in res.requests[:max_requests]:
        tid = r.id + 1
        ev.append(_meta("thread_name", REQUESTS_PID, tid, f"request {r.id}"))
        for name, start, end in r.spans:
            ev.append({"name": name, "ph": "X", "pid": REQUESTS_PID, "tid": tid, "ts": start * US_PER_S,
                       "dur": (end - start) * US_PER_S,
                       "args": {"input_len": r.input_len, "output_len": r.output_len, "chip": r.replica}})
    return {"traceEvents": ev, "displayTimeUnit": "ms"}


def _meta(kind: str, pid: int, tid: int, name: str) -> dict:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}


PIPELINE_TRACKS = (COMPUTE, SEND, DP)


def pipeline_trace(res: PipelineResult) -> dict:
    """A simulated training step (``sim.des.pipeline``) as a trace: one process per
    pipeline stage (one chip standing for its tensor- and data-parallel peers) with a
    compute track (forward, backward, optimizer) and two communication tracks (pipeline
    sends; data-parallel gradient buckets and parameter gathers)."""
    ev: list[dict] = []
    for s in res.stages:
        pid = s.stage + 1
        ev.append(_meta("process_name", pid, 0, f"stage {s.stage}"))
        ev += [_meta("thread_name", pid, tid, name) for tid, name in enumerate(PIPELINE_TRACKS, start=1)]
    tid = {name: i for i, name in enumerate(PIPELINE_TRACKS, start=1)}
    for sp in res.spans:
        ev.append({"name": sp.name, "ph": "X", "pid": sp.stage + 1, "tid": tid[sp.track], "ts": sp.start_s * US_PER_S,
                   "dur": (sp.end_s - sp.start_s) * US_PER_S})
    return {"traceEvents": ev, "displayTimeUnit": "ms",
            "otherData": {"schedule": res.schedule, "pp": res.pp, "vpp": res.vpp, "micro_batches": res.micro_batches,
                          "step_time_s": res.step_time_s}}

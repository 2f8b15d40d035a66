"""Discrete-event engine, the only package that imports simpy: LLM serving under load
(below) and training-step pipeline timelines (``simulate_training``, ``pipeline_trace``).

    reqs = make_requests(Requests(count=1000, arrivals=Arrivals(rate_per_s=5),
                                  input=Lengths(value=512), output=Lengths(value=128)))
    serving = Serving(scheduler=Scheduler(policy="chunked"))
    result = simulate(iteration_cost(chip, model, Precision(), serving.scheduler, reqs), serving, reqs)
    row = summarize(result, Slo(ttft_s=1.0, tpot_s=0.05))
"""

from sim.des.arrivals import make_requests, read_trace
from sim.des.cost import iteration_cost
from sim.des.engine import simulate
from sim.des.metrics import power_series, summarize, summary_columns, time_series
from sim.des.pipeline import simulate_pipeline, simulate_training
from sim.des.policies import registered_policies, token_budget
from sim.des.record import ServingResult
from sim.des.spec import Arrivals, Disaggregation, Lengths, Requests, Scheduler, Serving, Slo
from sim.des.sweep import rate_sweep, saturation
from sim.des.trace import perfetto_trace, pipeline_trace

__all__ = ["Arrivals", "Disaggregation", "Lengths", "Requests", "Scheduler", "Serving", "iteration_cost",
           "ServingResult", "Slo", "make_requests", "perfetto_trace", "pipeline_trace", "rate_sweep",
           "power_series", "read_trace", "registered_policies", "saturation", "simulate", "simulate_pipeline", "simulate_training",
           "summarize", "summary_columns",
           "time_series", "token_budget"]

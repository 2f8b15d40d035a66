"""The ``sim`` command: parse, call, print. User mistakes exit non-zero with one line."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from sim.dtypes import DTYPE_BYTES
from sim.errors import SimError
from sim.units import GB

DTYPES = sorted(DTYPE_BYTES)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as done:  # a usage mistake (said in one line), --help or --version
        return int(done.code or 0)
    try:
        if args.catalog:
            from sim.catalog import use_catalog

            use_catalog(*args.catalog)
        return args.func(args)
    except SimError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except OSError as err:  # a file the user named cannot be read or written (an unwritable --out)
        where = err.filename or "a file"
        print(f"error: {where}: {err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rows finished so far are in the results CSV (results.csv; serving.csv for a serving "
              "scenario)", file=sys.stderr)
        return 130


# Bounds on counts the command line takes: past them a run cannot finish on one machine
# (or a value is a unit mistake), so they are refused in one line instead of hanging.
MAX_TOKENS = 10_000_000  # prompt or output tokens per sequence
MAX_REQUESTS = 10_000_000  # simulated requests in one serving run
MAX_COUNT = 1_000_000  # chips, batch, workers, parallel degrees


def _int_in(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: a whole number in [lo, hi]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"a whole number is needed, not '{text}'") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{value} is outside {lo:,}..{hi:,}")
        return value
    return parse


def _positive_float(text: str) -> float:
    """An argparse type: a finite number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a number is needed, not '{text}'") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"a finite number above 0 is needed, not {text}")
    return value


def _worth_showing(default: Any) -> bool:
    """A default a reader learns from (not unset, an off switch or an empty list; 0 is shown)."""
    return not (default is None or default is False or default == [] or default == argparse.SUPPRESS)


class _DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless its text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        shown = _worth_showing(action.default) and action.option_strings
        if shown and "default" not in text:
            return f"{text} (default: %(default)s)".lstrip()
        return text


class _Parser(argparse.ArgumentParser):
    """argparse with a usage mistake reported in one line (the usage block is in --help),
    and every default shown in --help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sim", description="Accelerator performance simulator for LLM workloads.")
    p.add_argument("--version", action=_VersionAction, nargs=0, help="show the installed version and exit")
    p.add_argument("--catalog", action="append", default=[], metavar="DIR",
                   help="a folder of your own chips/, systems/, models/, scenarios/ added to the shipped "
                        "catalog (repeatable; SIM_PATH does the same)")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a scenario (name or path) into results/<name>/")
    run.add_argument("scenario")
    run.add_argument("--out", default=None, help="results root (default: results/)")
    run.add_argument("--workers", type=_int_in(1, MAX_COUNT), default=None, help="processes (default: all cores)")
    run.add_argument("--no-progress", action="store_true")
    run.add_argument("--backend", choices=["local", "ray"], default="local",
                     help="where the points run: this machine's cores, or a Ray cluster (pip install 'sim[ray]')")
    run.add_argument("--ray-address", default=None, metavar="ADDR",
                     help="with --backend ray: a running cluster's address (default: start a local one for the run)")
    run.add_argument("--json", action="store_true", help="print where the run wrote, its point counts and files as JSON")
    run.add_argument("--resume", action="store_true",
                     help="keep the points an interrupted (or earlier) run finished and run only the rest")
    run.set_defaults(func=_cmd_run)

    ls = sub.add_parser("list", help="list chips, models or scenarios")
    ls.add_argument("what", choices=["chips", "models", "systems", "stacks", "datasets", "scenarios"])
    ls.add_argument("--json", action="store_true", help="print the rows as JSON records")
    ls.set_defaults(func=_cmd_list)

    imp = sub.add_parser("import-model", help="write a catalog model YAML from a Hugging Face config.json")
    imp.add_argument("config", help="path to the model's config.json")
    imp.add_argument("--name", default=None, help="the model's name (default: the config's _name_or_path or folder)")
    imp.add_argument("--out", default=None, help="YAML file to write (default: print it)")
    imp.add_argument("--json", action="store_true", help="print the model as JSON instead of YAML (with --out: the file is JSON)")
    imp.set_defaults(func=_cmd_import_model)

    show = sub.add_parser("show", help="show one chip, system, model, software stack or dataset with its sources")
    show.add_argument("what", choices=["chip", "system", "model", "stack", "dataset"])
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print the spec as JSON (sources included)")
    show.set_defaults(func=_cmd_show)

    va = sub.add_parser("validate", help="predict published measurements and report the error")
    va.add_argument("files", nargs="+", help="case files or folders of them")
    va.add_argument("--out", default=None, help="output folder (default: results/validation)")
    va.add_argument("--max-median-error", type=float, default=None,
                    help="exit 1 when the held-out median absolute error (%%) is worse")
    va.add_argument("--json", action="store_true",
                    help="print the per-case outcomes and the per-group accuracy (signed bias included) as JSON")
    va.set_defaults(func=_cmd_validate)

    _predict_parser(sub)
    _serve_parser(sub)
    _search_parser(sub)
    for command in sub.choices.values():  # an option with a default but no text still shows its default
        for action in command._actions:
            if action.help is None and action.option_strings and _worth_showing(action.default):
                action.help = "(default: %(default)s)"
    return p


def _predict_parser(sub: Any) -> None:
    pr = sub.add_parser("predict", help="predict one inference point or training step")
    hw = pr.add_mutually_exclusive_group(required=True)
    hw.add_argument("--chip", help="one card of this chip (or --count of them in a system with this chip)")
    hw.add_argument("--system", help="a system from configs/systems, sized to --count chips")
    pr.add_argument("--count", type=_int_in(1, MAX_COUNT), default=None, help="chips (default: 1 chip, or tp*cp*pp*dp)")
    pr.add_argument("--model", required=True)
    pr.add_argument("--mode", choices=["inference", "training"], default="inference")
    for flag in PLAN_FLAGS:
        what = "context-parallel (training) " if flag == "cp" else ""
        pr.add_argument(f"--{flag}", type=int, default=None,
                        help=f"{what}{flag} degree (default 1 when any degree is given; with none, a --count fills "
                             "tensor parallelism up to the scale-up domain, and a --system alone takes the "
                             "smallest plan that fits)")
    pr.add_argument("--sp", action="store_true", help="sequence parallelism with tensor parallelism")
    pr.add_argument("--schedule", choices=["gpipe", "1f1b", "interleaved"], default="1f1b")
    pr.add_argument("--micro-batch", type=_int_in(1, MAX_COUNT), default=1)
    pr.add_argument("--zero", type=int, choices=[0, 1, 2, 3], default=0)
    pr.add_argument("--recompute", choices=["none", "selective", "full"], default="none")
    pr.add_argument("--no-dp-overlap", action="store_true", help="do not overlap gradient reduction with backward")
    pr.add_argument("--global-batch", type=_int_in(1, MAX_COUNT), help="training: sequences per optimizer step")
    pr.add_argument("--seq-len", type=_int_in(1, MAX_TOKENS), help="training: tokens per sequence")
    pr.add_argument("--timeline", metavar="DIR", help="training: also play the step as a pipeline timeline and "
                    "write its Perfetto trace, per-stage table and figure to DIR")
    pr.add_argument("--phase", choices=["prefill", "decode", "generate"], default="generate")
    pr.add_argument("--batch", type=_int_in(1, MAX_COUNT), default=1)
    pr.add_argument("--input-len", type=_int_in(1, MAX_TOKENS), default=None,
                    help="prompt tokens per sequence; with --dataset, its mean (default: 1024)")
    pr.add_argument("--output-len", type=_int_in(1, MAX_TOKENS), default=None,
                    help="generated tokens per sequence; with --dataset, its mean (default: 128)")
    pr.add_argument("--dataset", help="a benchmark dataset (configs/datasets, e.g. mlperf-llama2-70b): "
                    "its mean lengths fill --input-len / --output-len not given")
    pr.add_argument("--precision", choices=DTYPES, default="bf16",
                    help="one format for weights, activations and KV cache (see --weights etc.)")
    pr.add_argument("--weights", choices=DTYPES)
    pr.add_argument("--activations", choices=DTYPES)
    pr.add_argument("--kv-cache", choices=DTYPES)
    pr.add_argument("--electricity-price", type=float, help="per kWh, in --currency")
    pr.add_argument("--currency", help="currency code; give --currency-per-usd with it")
    pr.add_argument("--currency-per-usd", type=float)
    pr.add_argument("--stack", help="software stack (configs/stacks: trtllm, vllm, sglang, jetstream, neuron, "
                    "megatron, nemo, maxtext, ...; default: the chip's)")
    pr.add_argument("--json", action="store_true", help="print the metrics as JSON")
    pr.set_defaults(func=_cmd_predict)


def _serve_parser(sub: Any) -> None:
    sv = sub.add_parser("serve", help="simulate serving a request stream on the discrete-event engine")
    hw = sv.add_mutually_exclusive_group(required=True)
    hw.add_argument("--chip", help="one card of this chip (or --tp x --pp of them in a system with this chip)")
    hw.add_argument("--system", help="a system from configs/systems; one model instance uses tp x pp chips")
    sv.add_argument("--model", required=True)
    sv.add_argument("--tp", type=_int_in(1, MAX_COUNT), default=1, help="tensor-parallel degree of a model instance (default 1)")
    sv.add_argument("--pp", type=_int_in(1, MAX_COUNT), default=1, help="pipeline-parallel degree of a model instance (default 1)")
    sv.add_argument("--replicas", type=int, default=1, help="model instances behind the router (default 1)")
    sv.add_argument("--rate", type=_positive_float, required=True, help="offered requests per second")
    sv.add_argument("--requests", type=_int_in(1, MAX_REQUESTS), default=500, help="requests to simulate (default 500)")
    sv.add_argument("--arrivals", choices=["poisson", "constant", "gamma"], default="poisson")
    sv.add_argument("--cv", type=_positive_float, default=None, help="gamma arrivals: coefficient of variation of the gaps")
    sv.add_argument("--input-len", type=_int_in(1, MAX_TOKENS), default=1024, help="prompt tokens per request (default 1024)")
    sv.add_argument("--output-len", type=_int_in(1, MAX_TOKENS), default=256, help="output tokens per request (default 256)")
    sv.add_argument("--seed", type=_int_in(0, 2**32 - 1), default=0)
    sv.add_argument("--policy", default="continuous", help="scheduler policy: static, continuous or chunked")
    sv.add_argument("--max-seqs", type=int, default=None, help="sequences per iteration (default vLLM's 256)")
    sv.add_argument("--precision", choices=DTYPES, default="bf16")
    sv.add_argument("--slo-ttft", type=float, default=None, help="SLO on time to first token, seconds")
    sv.add_argument("--slo-tpot", type=float, default=None, help="SLO on time per output token, seconds")
    sv.add_argument("--stack", help="serving stack (configs/stacks; default: the chip's)")
    sv.add_argument("--json", action="store_true", help="print the metrics as JSON")
    sv.set_defaults(func=_cmd_serve)


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.report import figure_server

    if args.ray_address and args.backend != "ray":
        raise SimError("--ray-address is for --backend ray (the local pool has no address); add --backend ray")
    figure_server.start()  # before the engine's imports: the plotting loads meanwhile
    from sim.studies import run_scenario

    run = run_scenario(args.scenario, Path(args.out) if args.out else None, args.workers,
                       progress=not args.no_progress, resume=args.resume, backend=args.backend,
                       address=args.ray_address)
    if args.json:
        print(json.dumps({"out_dir": str(run.out_dir), "points": len(run.rows), "failed": run.failed,
                          "csv": run.csv_name, "files": run.files}, indent=2))
    else:
        print(f"{len(run.rows)} points ({run.failed} failed) -> {run.out_dir}/{run.csv_name}, summary.md, report.html, figures/")
    if run.rows and run.failed == len(run.rows):
        first = next(str(r["error"]) for r in run.rows if r.get("error"))
        print(f"error: every point failed (e.g. {first}); see {run.out_dir}/summary.md", file=sys.stderr)
        return 1
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.validate.run import run_validation

    outcomes, out_dir, median = run_validation([Path(f) for f in args.files],
                                               Path(args.out) if args.out else None)
    from sim.validate.summary import as_records, markdown

    ran = sum(1 for o in outcomes if o.status == "ok")
    below = sum(1 for o in outcomes if o.status == "below-floor")
    shown = "n/a" if median is None else f"{median:.1f}%"
    if args.json:
        print(json.dumps({"out_dir": str(out_dir), "cases": len(outcomes), "predicted": ran, "below_floor": below,
                          "held_out_median_abs_error_pct": median, **as_records(outcomes)}, indent=2))
    else:
        print(markdown(outcomes))
        aside = f", {below} below the weight-read floor (set aside)" if below else ""
        print(f"\n{len(outcomes)} cases, {ran} predicted{aside}; held-out median abs error {shown} -> {out_dir}")
    if args.max_median_error is not None and (median is None or median > args.max_median_error):
        print(f"error: held-out median abs error {shown} exceeds {args.max_median_error}%", file=sys.stderr)
        return 1
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    """One row per catalog entry under a header row, or the same records as JSON."""
    kind = args.what[:-1]
    records = [_list_record(kind, name) for name in _names(kind)]
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    cols = list(records[0]) if records else ["name"]
    width = {c: max(len(c), *(len(_cell(r[c])) for r in records)) for c in cols}
    last = cols[-1]
    print("  ".join(c if c == last else f"{c:{width[c]}}" for c in cols))
    for r in records:
        print("  ".join(_cell(r[c]) if c == last else f"{_cell(r[c]):{width[c]}}" for c in cols))
    return 0


def _names(kind: str) -> list[str]:
    from sim.catalog import names

    return names(kind)


def _cell(value: Any) -> str:
    return f"{value:,.1f}" if isinstance(value, float) else str(value)


def _list_record(kind: str, name: str) -> dict[str, Any]:
    """What ``sim list`` shows of one entry, with units in the keys."""
    from sim.catalog import load_chip, load_dataset, load_model, load_stack, load_system

    if kind == "chip":
        c = load_chip(name)
        bf16 = c.compute.peak_dense_TFLOPS.get("bf16", c.compute.peak_dense_TFLOPS.get("fp16", math.nan))
        return {"name": name, "kind": c.kind, "status": c.status, "bf16_TFLOPS": float(bf16),
                "memory_GB": c.capacity_bytes / GB, "bandwidth_GBps": float(c.main_tier.bandwidth_GBps)}
    if kind == "model":
        m = load_model(name)
        return {"name": name, "params_B": m.params / 1e9, "active_B": m.active_params / 1e9,
                "attention": m.attention, "mlp": "MoE" if m.moe else "dense"}
    if kind == "system":
        sy = load_system(name)
        up = sy.scale_up
        return {"name": name, "chip": sy.chip.name, "chips_per_domain": sy.chips_per_node, "topology": up.topology,
                "scale_up_GBps_per_chip": float(up.link_bandwidth_GBps * up.links_per_chip),
                "scale_out": sy.scale_out.name if sy.scale_out else "none"}
    if kind == "stack":
        st = load_stack(name)
        return {"name": name, "us_per_sequence": float(st.host_overhead_us_per_sequence),
                "us_per_step": float(st.step_overhead_us), "us_per_step_per_tp_rank": float(st.tp_step_overhead_us),
                "us_per_collective_call": float(st.collective_call_overhead_us),
                "kv_read_share": float(st.kv_read_bandwidth_fraction), "kv_read_per_query_head": st.kv_read_per_query_head,
                "gemm_rate_by_chip": dict(st.matmul_rate_fraction_by_chip),
                "tp_comm_overlap": st.tp_comm_overlap, "notes": st.notes}
    if kind == "dataset":
        ds = load_dataset(name)
        return {"name": name, "samples": ds.samples, "mean_input_tokens": float(ds.mean_input_tokens),
                "mean_output_tokens": float(ds.mean_output_tokens), "notes": ds.notes}
    return {"name": name}


class _VersionAction(argparse.Action):
    """--version, looked up only when asked for (reading the package metadata costs a
    tenth of the start-up of every other command)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        print(f"{parser.prog} {_version()}")
        parser.exit(0)


def _version() -> str:
    """The installed package's version (the source tree's when run uninstalled)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sim")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _cmd_import_model(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.catalog.hf import model_from_config
    from sim.catalog.yaml_io import dump_yaml

    model = model_from_config(Path(args.config), args.name)
    data = model.model_dump(mode="json", exclude_defaults=True)
    text = json.dumps(data, indent=2) + "\n" if args.json else dump_yaml(data)
    if args.out is None:
        print(text, end="")
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as err:
        raise SimError(f"--out {args.out}: cannot write there ({err.strerror})") from None
    print(f"{model.name} -> {args.out}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from sim.catalog import load_chip, load_dataset, load_model, load_stack, load_system
    from sim.catalog.yaml_io import dump_yaml

    load: dict[str, Any] = {"chip": load_chip, "system": load_system, "model": load_model, "stack": load_stack,
                            "dataset": load_dataset}
    spec = load[args.what](args.name)
    if args.json:
        print(json.dumps(spec.model_dump(mode="json"), indent=2))
        return 0
    # a system shows its chip by name (sim show chip NAME shows the chip itself)
    body = spec.model_dump(mode="json", exclude={"sources"})
    if args.what == "system":
        body["chip"] = spec.chip.name
    print(dump_yaml(body), end="")
    print("sources:")
    for key, text in spec.sources.items():
        print(f"  {key}: {text}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from sim.analytical.inference import predict
    from sim.analytical.training import predict_training
    from sim.catalog import load_economics, load_model
    from sim.workload.spec import Precision
    from sim.workload.training import TrainingJob

    flags = {"electricity_price_per_kWh": "--electricity-price", "currency": "--currency",
             "currency_per_USD": "--currency-per-usd"}
    econ = load_economics({k: v for k, v in {
        "electricity_price_per_kWh": args.electricity_price, "currency": args.currency,
        "currency_per_USD": args.currency_per_usd}.items() if v is not None}, "economics flags", flags)
    model = load_model(args.model)
    if args.timeline and args.mode != "training":
        raise SimError("--timeline plays a training step; give --mode training")
    chosen = ""
    if args.mode == "training":
        if args.dataset:
            raise SimError("--dataset sets inference lengths; a training step takes --seq-len")
        if not (args.global_batch and args.seq_len):
            raise SimError("--mode training needs --global-batch and --seq-len")
        job = _spec(TrainingJob, global_batch=args.global_batch, seq_len=args.seq_len,
                    precision=args.precision if args.precision in ("bf16", "fp16", "fp8") else "bf16")
        dep = _deployment(args, "training")
        pred: Any = predict_training(dep, model, job, econ)
        inputs = {"mode": "training", **job.model_dump(mode="json")}
        if args.timeline:
            inputs["timeline_files"] = _timeline(dep, model, job, args.timeline)
    else:
        base = Precision.uniform(args.precision)
        precision = Precision(weights=args.weights or base.weights,
                              activations=args.activations or base.activations,
                              kv_cache=args.kv_cache or base.kv_cache)
        wl = _workload(args, precision)
        if args.system and args.count is None and not _plan_given(args):
            from sim.analytical.planner import smallest_fit
            from sim.catalog import load_system

            pick = smallest_fit(load_system(args.system), model, wl, econ, _stack(args))
            dep, pred, chosen = pick.deployment, pick.prediction, pick.reason
            print(f"plan: {chosen}", file=sys.stderr)
        else:
            dep = _deployment(args, "inference")
            pred = predict(dep, model, wl, econ)
        inputs = {"mode": "inference", **wl.model_dump(mode="json")}
    plan = dep.plan
    where = dep.chip.name if dep.system is None else f"{dep.system.name} x{dep.chips}"
    metrics = {"hardware": where, "chip": dep.chip.name, "model": model.name, "plan": plan.label,
               **({"plan_chosen": chosen} if chosen else {}), **plan.model_dump(mode="json"), **inputs,
               **pred.metrics(), "stack_from": _stack_source(args)}
    if dep.system is not None and plan.tp > dep.system.chips_per_node:
        fabric = dep.system.scale_out.name if dep.system.scale_out is not None else "the scale-out network"
        print(f"warning: tensor parallelism over {plan.tp} spans {math.ceil(plan.tp / dep.system.chips_per_node)} "
              f"scale-up domains of {dep.system.chips_per_node} chips ({dep.system.name}): its all-reduces "
              f"cross {fabric}", file=sys.stderr)
    if "asked" in str(metrics.get("compute_format", "")):
        print(f"warning: GEMMs run as {metrics['compute_format']}", file=sys.stderr)
    if int(metrics.get("waves", 1) or 1) > 1:
        print(f"warning: the batch's KV cache does not fit at once; it runs in {metrics['waves']} waves of "
              f"{metrics['concurrent_sequences']} sequences", file=sys.stderr)
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()}, indent=2))
    else:
        _print_table(metrics)
    return 0


def _search_parser(sub: Any) -> None:
    se = sub.add_parser("search", help="plans, batches and card counts that meet latency targets, best per chip first")
    se.add_argument("--model", required=True)
    se.add_argument("--system", required=True, help="a system from configs/systems")
    se.add_argument("--max-chips", type=_int_in(1, 4096), default=8, help="card budget (default 8)")
    se.add_argument("--ttft", type=_positive_float, default=None, help="target time to first token, seconds")
    se.add_argument("--tpot", type=_positive_float, default=None, help="target time per output token, seconds")
    se.add_argument("--min-tokens-per-s", type=_positive_float, default=None, help="target output tokens/s")
    se.add_argument("--input-len", type=_int_in(1, MAX_TOKENS), default=2048, help="prompt tokens (default 2048)")
    se.add_argument("--output-len", type=_int_in(2, MAX_TOKENS), default=256, help="output tokens (default 256)")
    se.add_argument("--precision", choices=DTYPES, default="fp8", help="weights, activations and KV (default fp8)")
    se.add_argument("--no-confirm", action="store_true", help="skip the serving simulation of the front")
    se.add_argument("--out", default=None, help="folder for front.csv, points.csv and the figure "
                                                "(default results/search-<model>-<system>)")
    se.add_argument("--json", action="store_true", help="print the front and the confirmed plan as JSON")
    se.set_defaults(func=_cmd_search)


def _cmd_search(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.catalog import load_economics, load_model, load_system, results_dir
    from sim.report import figure_server
    from sim.report.figures import search_front_figure
    from sim.scenario.store import write_table
    from sim.studies.base import slug
    from sim.studies.search import Targets, search
    from sim.workload.spec import Precision

    model, system = load_model(args.model), load_system(args.system)
    targets = Targets(args.ttft, args.tpot, args.min_tokens_per_s)
    res = search(model, system, args.max_chips, load_economics({}), Precision.uniform(args.precision),
                 args.input_len, args.output_len, targets, confirm=not args.no_confirm)
    out = Path(args.out) if args.out else results_dir() / f"search-{slug(model.name)}-{slug(system.name)}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_table(out / "points.csv", res.points)
        write_table(out / "front.csv", res.front)
    except OSError as err:
        raise SimError(f"--out {out}: cannot write there ({err.strerror})") from None
    title = (f"{model.name} on up to {args.max_chips} chips of {system.name}, {args.precision}, "
             f"{args.input_len} in / {args.output_len} out")
    figure = figure_server.draw([(search_front_figure, (res.points, res.front, title, out, "front.png"))])
    if args.json:
        print(json.dumps({"front": res.front, "confirmed": res.confirmed, "simulations": res.simulations}, indent=2))
        return 0 if res.front else 1
    ran = sum(1 for r in res.points if not r["error"])
    print(f"{len(res.points)} points ({ran} fit), {sum(1 for r in res.points if r.get('meets'))} meet the targets; "
          f"front of {len(res.front)} -> {out}/front.csv, {', '.join(str(out / f) for f in figure)}")
    if not res.front:
        print("error: no plan within the card budget meets the targets", file=sys.stderr)
        return 1
    cols = ("chips", "plan", "batch", "ttft_s", "tpot_s", "tokens_per_s", "tokens_per_s_per_chip",
            "tokens_per_s_per_user", "cost_per_million_tokens")
    print("  ".join(f"{c:>14s}" for c in cols))
    for r in res.front:
        print("  ".join(f"{_cell(r[c]) if not isinstance(r[c], float) else f'{r[c]:.4g}':>14s}" for c in cols))
    for s in res.simulations:
        verdict = "meets" if s["meets"] else "misses"
        print(f"served {s['plan']} at batch {s['batch_per_replica']} per replica, {s['rate_per_s']:.3g} req/s (Poisson): "
              f"p90 TTFT {s['ttft_p90_s']:.3g} s, p90 TPOT {s['tpot_p90_s'] * 1e3:.3g} ms: {verdict} the targets")
    if res.confirmed is None and not args.no_confirm:
        print("warning: no front plan met the targets in simulation (queueing); the predictions above are "
              "for a full static batch", file=sys.stderr)
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from sim.catalog import load_deployment, load_model
    from sim.des import Arrivals, Lengths, Requests, Scheduler, Serving, Slo
    from sim.studies.serving import serve_once
    from sim.workload.parallel import Parallelism
    from sim.workload.spec import Precision

    for flag in ("rate", "requests", "input_len", "output_len", "replicas", "max_seqs", "cv", "slo_ttft", "slo_tpot"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            raise SimError(f"--{flag.replace('_', '-')} must be positive, got {value:g}")
    plan = _spec(Parallelism, tp=args.tp, pp=args.pp)
    req = _spec(Requests, count=args.requests, seed=args.seed,
                arrivals=_spec(Arrivals, kind=args.arrivals, rate_per_s=args.rate, cv=args.cv),
                input=_spec(Lengths, value=args.input_len), output=_spec(Lengths, value=args.output_len))
    sched = {"policy": args.policy} | ({"max_seqs": args.max_seqs} if args.max_seqs is not None else {})
    serving = _spec(Serving, replicas=args.replicas, scheduler=_spec(Scheduler, **sched))
    if (args.slo_ttft is None) != (args.slo_tpot is None):
        raise SimError("give both --slo-ttft and --slo-tpot, or neither")
    slo = _spec(Slo, ttft_s=args.slo_ttft, tpot_s=args.slo_tpot) if args.slo_ttft is not None else None
    dep = load_deployment(plan, chip=args.chip, system=args.system).with_stack(_stack(args))
    model = load_model(args.model)
    where = f"{dep.system.name} {plan.label}" if dep.system is not None and plan.chips > 1 else dep.chip.name
    row = serve_once(dep, model, Precision.uniform(args.precision), req, serving, slo)
    metrics = {"hardware": where, "chip": dep.chip.name, "model": model.name, "plan": plan.label,
               "stack": dep.software("serving").name, "stack_from": _stack_source(args), "replicas": args.replicas, "policy": args.policy, "rate_per_s": args.rate, **row}
    if args.json:
        print(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in metrics.items()},
                         indent=2))
    else:
        _print_table(metrics)
    return 0


PLAN_FLAGS = ("tp", "cp", "pp", "dp", "ep", "vpp")  # cp: context parallelism (training)


def _plan_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, f) is not None for f in PLAN_FLAGS)


def _plan(args: argparse.Namespace) -> Any:
    from sim.workload.parallel import Parallelism

    degrees = {f: getattr(args, f) or 1 for f in PLAN_FLAGS}
    return _spec(Parallelism, **degrees, sequence_parallel=args.sp, schedule=args.schedule,
                 micro_batch=args.micro_batch, zero=args.zero, recompute=args.recompute,
                 overlap_dp_comm=not args.no_dp_overlap)


def _timeline(dep: Any, model: Any, job: Any, folder: str) -> str:
    """Write the training step's timeline files under ``folder``; their paths, comma-separated."""
    from pathlib import Path

    from sim.report import figure_server
    from sim.scenario.store import write_table
    from sim.studies.base import slug
    from sim.studies.training import stage_figure_job, stage_rows, timeline

    out = Path(folder)
    try:
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SimError(f"--timeline {folder}: cannot write there ({err.strerror})") from None
    stem = slug(model.name)
    trace, res = timeline(dep, model, job, out, stem)
    stages = stage_rows(res)
    write_table(out / "pipeline_stages.csv", stages)
    figure = figure_server.draw([stage_figure_job(stages, f"{model.name} on {dep.label}", out, stem)])[0]
    return ", ".join(str(out / f) for f in (trace, "pipeline_stages.csv", figure))


def _deployment(args: argparse.Namespace, mode: str) -> Any:
    """The deployment --chip / --system / --count and the plan flags describe. A --count
    with no degrees given fills tensor parallelism up to the scale-up domain (inference) as
    scenarios do, the remaining cards data-parallel."""
    from sim.catalog import load_deployment, load_system, system_with_chip
    from sim.deployment import PlanEntry, plan_for

    if args.count is not None and not _plan_given(args):
        if args.count < 1:
            raise SimError(f"--count must be at least 1, got {args.count}")
        host = load_system(args.system) if args.system else (system_with_chip(args.chip, args.count) if args.count > 1 else None)
        entry = PlanEntry(sequence_parallel=args.sp, micro_batch=args.micro_batch, zero=args.zero,
                          recompute=args.recompute, overlap_dp_comm=not args.no_dp_overlap)
        plan = plan_for(entry, args.count, host, mode)  # type: ignore[arg-type]
    else:
        plan = _plan(args)
    count = args.count or plan.chips
    if count != plan.chips:
        raise SimError(f"--count {count} != tp*pp*dp = {plan.chips}; give the plan that uses every chip")
    return load_deployment(plan, chip=args.chip, system=args.system).with_stack(_stack(args))


def _stack(args: argparse.Namespace) -> Any:
    """The --stack named, or None for the chip's default (the output says which)."""
    from sim.catalog import load_stack

    return load_stack(args.stack) if args.stack else None


def _stack_source(args: argparse.Namespace) -> str:
    return "--stack" if args.stack else "the chip's default (--stack to choose)"


def _spec(cls: Any, **fields: Any) -> Any:
    """Build a spec from flags; a bad value becomes one line naming the flag."""
    from pydantic import ValidationError

    try:
        return cls(**fields)
    except ValidationError as err:
        e = err.errors()[0]
        flag = str(e["loc"][0]).replace("_", "-") if e["loc"] else ""
        msg = str(e["msg"]).removeprefix("Value error, ")
        raise SimError(f"--{flag}: {msg}" if flag else msg) from None


def _lengths(args: argparse.Namespace) -> tuple[int, int]:
    """--input-len / --output-len, the --dataset's means for those not given (said on
    stderr), else 1024 / 128."""
    if args.dataset is None:
        return args.input_len or 1024, args.output_len or 128
    from sim.catalog import load_dataset

    ds = load_dataset(args.dataset)
    input_len, output_len = ds.lengths(args.input_len, args.output_len)
    taken = [f for f, v in (("input", args.input_len), ("output", args.output_len)) if v is None]
    if taken:
        print(f"lengths: {input_len} in / {output_len} out ({' and '.join(taken)} from dataset {ds.name}'s mean)",
              file=sys.stderr)
    return input_len, output_len


def _workload(args: argparse.Namespace, precision) -> Any:
    """The Workload the flags describe; a bad value becomes one line naming the flag."""
    from pydantic import ValidationError

    from sim.workload.spec import Workload

    input_len, output_len = _lengths(args)
    try:
        return Workload(phase=args.phase, batch=args.batch, input_len=input_len,
                   output_len=output_len, precision=precision)
    except ValidationError as err:
        e = err.errors()[0]
        flag = f"--{str(e['loc'][0]).replace('_', '-')}" if e["loc"] else "--phase / --input-len / --output-len"
        raise SimError(f"{flag}: {e['msg'].removeprefix('Value error, ')}") from None


def _print_table(metrics: dict[str, Any]) -> None:
    for key, value in metrics.items():
        if isinstance(value, float):
            value = "-" if math.isnan(value) else f"{value:.4g}"
        elif isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        print(f"{key:34s} {value}")


if __name__ == "__main__":
    sys.exit(main())

"""Figures drawn in a helper process that starts before the run's own work.

Importing matplotlib and drawing a first figure costs about a second; a scenario's sweep
often costs less. ``start()`` forks a helper that pays that cost while the parent loads the
scenario and runs its points; ``draw(jobs)`` then hands it the figure jobs, which it runs
on all cores (forking warm workers from itself) and answers with the files written. With
no helper (no fork on this platform, or ``start`` never called) ``draw`` runs the jobs in
this process. A job is ``(function, args)``: a module-level function (so it pickles by
name) returning the paths it wrote.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing as mp
import os
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

FigureJob = tuple[Callable[..., list[str]], tuple]

_helper: tuple[Any, Connection] | None = None


def start() -> None:
    """Fork the helper (once per process; nothing where fork is missing)."""
    global _helper
    if _helper is not None or not hasattr(os, "fork"):
        return
    ctx = mp.get_context("fork")
    mine, theirs = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(theirs,), name="sim-figures")
    proc.start()
    theirs.close()
    _helper = (proc, mine)
    atexit.register(stop)


def stop() -> None:
    """End the helper (it also ends by itself when this process's end of the pipe closes)."""
    global _helper
    if _helper is None:
        return
    proc, conn = _helper
    _helper = None
    with contextlib.suppress(OSError):
        conn.send(None)
    conn.close()
    proc.join(timeout=5)
    if proc.is_alive():
        proc.terminate()


def draw(jobs: list[FigureJob], workers: int | None = None) -> list[str]:
    """Run ``jobs`` (in the helper when there is one) and return the files they wrote, in
    job order. A job's exception is raised here."""
    if not jobs:
        return []
    if _helper is not None and _helper[0].is_alive():
        conn = _helper[1]
        try:
            conn.send((jobs, workers))
            status, value = conn.recv()
        except (OSError, EOFError):
            stop()
        else:
            if status == "error":
                raise value
            return value
    return run_jobs(jobs, workers)


def run_jobs(jobs: list[FigureJob], workers: int | None = None) -> list[str]:
    """The jobs' files, drawn on up to ``workers`` cores (forked from this process)."""
    n = min(workers or os.cpu_count() or 1, len(jobs))
    if n <= 1 or not hasattr(os, "fork"):
        return [name for job in jobs for name in _call(job)]
    with mp.get_context("fork").Pool(n) as pool:
        return [name for names in pool.map(_call, jobs, chunksize=1) for name in names]


def _call(job: FigureJob) -> list[str]:
    fn, args = job
    return fn(*args)


def _max_fd() -> int:
    try:
        return int(os.sysconf("SC_OPEN_MAX"))
    except (ValueError, OSError):
        return 4096


def _serve(conn: Connection) -> None:
    """The helper: close what it inherited (a parent's other pipes, held open here, would
    keep their readers from ever seeing end-of-file: a browser driver waiting for its stdin
    to close would wait forever), import and warm up the plotting, then draw what it is
    sent until told to stop or the parent goes."""
    keep = conn.fileno()
    os.closerange(3, keep)
    os.closerange(keep + 1, _max_fd())
    from sim.report import plots

    plots.warm_up()
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        jobs, workers = msg
        try:
            reply: tuple[str, Any] = ("ok", run_jobs(jobs, workers))
        except Exception as err:  # the parent raises it, as if it had drawn them itself
            reply = ("error", err)
        try:
            conn.send(reply)
        except (OSError, EOFError):
            return
        except Exception as err:  # an exception that does not pickle: send its text
            conn.send(("error", RuntimeError(f"{type(reply[1]).__name__}: {reply[1]} ({err})")))

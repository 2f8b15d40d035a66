"""Collective protocols (NCCL's LL / LL128 / Simple): the library takes, per message, the
protocol that finishes first; trees inside a node are chains; NVLS trees across nodes; and
a microbenchmark harness's host time per call."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sim import catalog
from sim.chips import registered_chip_kinds
from sim.comm import collective_time_s
from sim.comm.pricing import measure_collective
from sim.comm.tree import size_correction
from sim.parts.link import Fabric, Protocol
from sim.system import SystemSpec
from sim.validate.cases import load_cases
from sim.validate.predict import predict_case

KiB, MiB, GiB = 2**10, 2**20, 2**30
FAST = Protocol(base_latency_us=2.0, step_latency_us=0.5, bandwidth_fraction=0.5)
BULK = Protocol(base_latency_us=10.0, step_latency_us=3.0, bandwidth_fraction=1.0)


def _fabric(**latencies) -> Fabric:
    return Fabric(name="test", topology="switch", link_bandwidth_GBps=100.0, links_per_chip=1,
                  achievable_fraction=1.0, energy_pJ_per_bit=10.0, **latencies)


def _system(up: Fabric) -> SystemSpec:
    return SystemSpec(name="test", status="assumed", chip=registered_chip_kinds()["gpu"].tiny(),
                      chips_per_node=8, scale_up=up, sources={"*": "test"})


def _ring_s(protocol: Protocol, n: int, size: float) -> float:
    """The alpha-beta ring all-reduce under one protocol of the 100 GB/s test link."""
    bandwidth = 100e9 * protocol.bandwidth_fraction
    return (protocol.base_latency_us + 2 * (n - 1) * protocol.step_latency_us) * 1e-6 \
        + 2 * (n - 1) / n * size / bandwidth


@pytest.mark.parametrize("size", [KiB, 64 * KiB, MiB, 16 * MiB, GiB])
def test_the_library_takes_the_protocol_that_finishes_first(size):
    both = _system(_fabric(protocols={"fast": FAST, "bulk": BULK}))
    got = collective_time_s(both, "all_reduce", size, 8, algorithm="ring")
    assert got == pytest.approx(min(_ring_s(FAST, 8, size), _ring_s(BULK, 8, size)), rel=1e-12)
    for alone in (FAST, BULK):  # one protocol alone is never faster than the choice
        single = _system(_fabric(protocols={"only": alone}))
        assert collective_time_s(single, "all_reduce", size, 8, algorithm="ring") >= got * (1 - 1e-12)


def test_small_messages_take_the_low_latency_protocol_and_large_ones_the_bulk_one():
    both = _system(_fabric(protocols={"fast": FAST, "bulk": BULK}))
    assert measure_collective(both, "all_reduce", KiB, 8).algorithm == "ring/fast"
    assert measure_collective(both, "all_reduce", GiB, 8).algorithm == "ring/bulk"
    h100 = catalog.load_system("HGX-H100-8GPU")
    assert measure_collective(h100, "all_reduce", 4 * KiB, 8).algorithm.endswith("/LL")
    assert measure_collective(h100, "all_reduce", 4 * GiB, 8).algorithm == "nvls/Simple"


def test_a_protocol_ceiling_caps_its_bandwidth():
    capped = Protocol(step_latency_us=0.0, bandwidth_fraction=1.0, max_bandwidth_GBps=25.0)
    view = _fabric(protocols={"capped": capped}).as_protocol("capped")
    assert view is not None and view.injection_Bps == pytest.approx(25e9)
    assert _fabric(protocols={"capped": capped}).as_protocol("other") is None


def test_latencies_go_in_the_protocols_or_beside_them_not_both():
    with pytest.raises(ValidationError, match="not beside them"):
        _fabric(step_latency_us=1.0, protocols={"fast": FAST})
    with pytest.raises(ValidationError, match="step_latency_us"):
        _fabric()


def test_a_tree_in_one_node_is_a_chain_of_its_ranks():
    system = _system(_fabric(base_latency_us=4.0, step_latency_us=2.0))
    tiny = 1.0  # bytes: latency alone
    chain = (4.0 + 2 * 7 * 2.0) * 1e-6
    assert collective_time_s(system, "all_reduce", tiny, 8, algorithm="tree") == pytest.approx(chain, rel=1e-6)


def test_nccl_tree_size_correction_follows_its_table():
    assert size_correction("Simple", 64) == 0.9
    assert size_correction("LL", 64 * 2**12) == 0.4
    assert size_correction("LL128", 64 * 2**30) == 1.0  # above the table
    assert size_correction(None, MiB) == 1.0


def test_an_nvls_tree_joins_nodes_and_is_limited_by_their_nics():
    system = catalog.load_system("HGX-H100-8GPU").sized(16)
    best = measure_collective(system, "all_reduce", 4 * GiB, 16)
    assert best.algorithm == "nvls_tree/Simple"
    out = system.scale_out
    assert out is not None
    nic_floor_s = 4 * GiB / (8 * out.link_bandwidth_GBps * 1e9 * out.achievable_fraction)
    assert best.time_s >= nic_floor_s  # two nodes: each node's buffer crosses its 8 NICs once
    # NCCL runs NVLS on Simple only: the LL128 view offers neither nvls nor nvls_tree
    assert measure_collective(system, "all_reduce", 16 * KiB, 16).algorithm.split("/")[0] in ("ring", "tree")


def test_a_harness_adds_its_host_time_per_call_to_the_library():
    cases = {c.id: c for c in load_cases(catalog.scenarios_dir() / "validation" / "collective_sweeps.yaml")}
    case = cases["coll-a100x8-oci-allreduce-1KiB"]
    econ = catalog.load_economics({})
    with_host = predict_case(case, econ).predicted
    library = predict_case(case, econ, stack=catalog.load_stack("nccl-tests")).predicted
    overhead_s = catalog.load_stack("nccl-tests-one-thread").collective_call_overhead_us * 1e-6
    size, n = case.workload.bytes, case.hardware.count
    bus_bytes = 2 * (n - 1) / n * size
    assert bus_bytes / (with_host * 1e9) == pytest.approx(bus_bytes / (library * 1e9) + overhead_s, rel=1e-9)


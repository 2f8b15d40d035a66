"""Every shipped system loads with sources; sizing; bad system files give one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import catalog
from sim.catalog.provenance import unsourced
from sim.catalog.yaml_io import read_yaml
from sim.errors import ConfigError, UnknownNameError

SYSTEMS = sorted(catalog.systems_dir().glob("*.yaml"))
REQUIRED = ["HGX-H100-8GPU", "HGX-H20-8GPU", "HGX-H200-8GPU", "B30-8GPU", "GB200-NVL72",
            "DGX-A100-8GPU", "HGX-B200-8GPU", "Kunlunxin-R200-4x", "Ascend-910B-8x",
            "TPU-v5p-Pod", "TPU-v6e-Pod", "TPU-v5e-Pod", "Trn2-16", "TX81-Mesh-8",
            "SN40L-Node-8", "MI300X-8GPU", "PCIe-L20-8GPU"]
CORE = ("chips_per_node", "scale_up.dims", "scale_up.link_bandwidth_GBps", "scale_up.links_per_chip")


@pytest.mark.parametrize("path", SYSTEMS, ids=lambda p: p.stem)
def test_every_system_loads_with_sources(path: Path):
    system = catalog.load_system(str(path))
    assert system.chip.compute.peak_flops("bf16") > 0
    assert system.scale_up.injection_Bps > 0
    assert unsourced(read_yaml(path).data) == []


@pytest.mark.parametrize("name", REQUIRED)
def test_required_system_in_library(name: str):
    assert catalog.load_system(name).name == name
    assert name in catalog.names("system")


def test_confirmed_systems_assume_no_core_number():
    for path in SYSTEMS:
        data = read_yaml(path).data
        assumed = [k for k, v in data["sources"].items() if k in CORE and "ASSUMED" in v]
        if data["status"] == "confirmed":
            assert not assumed, f"{path.name} is 'confirmed' but assumes {assumed}"


def test_fitted_fractions_name_their_case():
    """An achievable fraction is either fitted on a named coll- case or says it is assumed."""
    for path in SYSTEMS:
        for key, text in read_yaml(path).data["sources"].items():
            if key.endswith("achievable_fraction"):
                assert "coll-" in text or "ASSUMED" in text or "measured" in text, (path.name, key)


def test_sizing_whole_nodes_and_part_of_one():
    h100 = catalog.load_system("HGX-H100-8GPU")
    assert h100.sized(4).nodes == 1 and h100.sized(4).total_chips == 4
    two = h100.sized(16)
    assert two.nodes == 2 and two.extra_power_W == 2 * h100.node.power_W
    with pytest.raises(ConfigError, match="not a whole number of 8-chip nodes.*try 8 or 16"):
        h100.sized(12)
    with pytest.raises(ConfigError, match="no scale-out fabric: at most 8 chips"):
        catalog.load_system("PCIe-L20-8GPU").sized(16)


def test_sizing_a_torus_cuts_the_most_even_slice():
    v5e = catalog.load_system("TPU-v5e-Pod")
    assert v5e.sized(8).scale_up.dims == (2, 4) and v5e.sized(8).scale_up.wraps == (False, False)
    assert v5e.sized(256).scale_up.wraps == (True, True)
    v5p = catalog.load_system("TPU-v5p-Pod")
    assert v5p.sized(64).scale_up.dims == (4, 4, 4) and all(v5p.sized(64).scale_up.wraps)
    assert not any(v5p.sized(8).scale_up.wraps)
    with pytest.raises(ConfigError, match="17 chips do not form a slice"):
        v5e.sized(17)


def _write(tmp_path: Path, **replace: str) -> str:
    text = (catalog.systems_dir() / "hgx-h100-8gpu.yaml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "system.yaml"
    path.write_text(text)
    return str(path)


def test_unknown_field_names_file_line_and_field(tmp_path):
    path = _write(tmp_path, **{"  links_per_chip: 18": "  links_per_chip: 18\n  link_count: 18"})
    with pytest.raises(ConfigError) as err:
        catalog.load_system(path)
    msg = str(err.value)
    assert "scale_up.link_count: unknown field" in msg and "\n" not in msg
    line = int(msg.split("system.yaml:")[1].split(":")[0])
    assert "link_count" in Path(path).read_text().splitlines()[line - 1]


def test_bad_topology_is_one_clear_line(tmp_path):
    path = _write(tmp_path, **{"  topology: switch\n  link_bandwidth_GBps: 25":
                               "  topology: swtich\n  link_bandwidth_GBps: 25"})
    with pytest.raises(ConfigError, match=r"system\.yaml:\d+: scale_up\.topology: Input should be"):
        catalog.load_system(path)


def test_unknown_chip_points_at_the_line(tmp_path):
    path = _write(tmp_path, **{"chip: H100-SXM5-80GB": "chip: H100-SMX"})
    with pytest.raises(UnknownNameError, match=r"system\.yaml:6: chip: unknown chip 'H100-SMX'.*H100"):
        catalog.load_system(path)


def test_number_without_source_is_rejected(tmp_path):
    path = _write(tmp_path, **{"  node.power_W:": "  node.power_Wx:"})
    with pytest.raises(ConfigError, match="node.power_W: no source"):
        catalog.load_system(path)


def test_grid_dims_must_hold_the_domain(tmp_path):
    text = (catalog.systems_dir() / "trn2-16.yaml").read_text().replace("dims: [4, 4]", "dims: [4, 8]")
    path = tmp_path / "trn.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="hold 32 chips, not chips_per_node"):
        catalog.load_system(str(path))


def test_unknown_system_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"unknown system 'HGX-H100-8GUP'.*Did you mean: .*HGX-H100-8GPU"):
        catalog.load_system("HGX-H100-8GUP")


def test_names_match_aliases():
    assert catalog.load_system("dgx h100").name == "HGX-H100-8GPU"
    assert catalog.load_system("v5e-pod").chip.name == "TPU-v5e"


def test_rack_scale_domains_take_any_whole_number_of_trays():
    """NVL72: a job of 512 GPUs runs as 8 racks of 64 (whole 4-GPU trays); one of 130
    cannot (not whole trays of any rack share)."""
    nvl = catalog.load_system("GB200-NVL72")
    s = nvl.sized(512)
    assert s.chips_per_node == 64 and s.nodes == 8 and s.total_chips == 512
    assert nvl.sized(2496).chips_per_node == 64  # MLPerf Training's 2,496-GPU run: 39 racks of 64
    with pytest.raises(ConfigError, match="not a whole number of 72-chip nodes"):
        nvl.sized(130)

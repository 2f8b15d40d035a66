"""Every shipped config loads, every number has a source, and bad input gets one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import catalog
from sim.catalog.provenance import unsourced
from sim.catalog.yaml_io import read_yaml
from sim.errors import ConfigError, UnknownNameError

CHIPS = sorted(catalog.chips_dir().glob("*.yaml"))
MODELS = sorted(catalog.models_dir().glob("*.yaml"))
REQUIRED_CHIPS = ["A100-SXM4-80GB", "H100-SXM5-80GB", "H200", "H20", "L20", "B200", "B30", "MI300X",
                  "TPU v5e", "TPU v5p", "TPU v6e", "TPU v7", "Trainium2", "Gaudi3", "Ascend 910B",
                  "Kunlunxin R200", "MLU370-X8", "TX81", "SN40L", "WSE-3", "Groq LPU"]
REQUIRED_MODELS = ["Llama-2-7B", "Llama-2-13B", "Llama-2-70B", "Llama-3.1-8B", "Llama-3.1-70B",
                   "Llama-3.1-405B", "GPT-3-175B", "Mixtral-8x7B", "DeepSeek-V3", "Qwen2.5-72B"]


@pytest.mark.parametrize("path", CHIPS, ids=lambda p: p.stem)
def test_every_chip_loads_with_sources(path: Path):
    chip = catalog.load_chip(str(path))
    assert chip.compute.peak_flops("bf16") > 0
    assert unsourced(read_yaml(path).data) == []


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_every_model_loads_with_sources(path: Path):
    model = catalog.load_model(str(path))
    assert model.params > 0
    assert unsourced(read_yaml(path).data) == []


@pytest.mark.parametrize("name", REQUIRED_CHIPS)
def test_required_chip_in_library(name: str):
    assert catalog.load_chip(name)


@pytest.mark.parametrize("name", REQUIRED_MODELS)
def test_required_model_in_library(name: str):
    assert catalog.load_model(name)


def test_assumed_numbers_are_labelled_and_configs_say_so():
    """A config whose status is 'confirmed' cites no ASSUMED number for its core figures."""
    for path in CHIPS:
        data = read_yaml(path).data
        core = [k for k, v in data["sources"].items()
                if v.startswith("ASSUMED") and k.split(".")[0] in ("compute", "memory")
                and not k.endswith(("energy_pJ_per_bit", "achievable_bandwidth_fraction", "max_matmul_fraction"))]
        if data["status"] == "confirmed":
            assert not core, f"{path.name} is 'confirmed' but assumes {core}"


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "chip.yaml"
    path.write_text(text)
    return str(path)


def _h100_text(**replace: str) -> str:
    text = (catalog.chips_dir() / "h100-sxm5-80gb.yaml").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def test_malformed_yaml_names_file_and_line(tmp_path):
    path = _write(tmp_path, "name: x\nkind: gpu\ncompute: [1, 2\n")
    with pytest.raises(ConfigError, match=r"chip\.yaml:\d+: YAML syntax error"):
        catalog.load_chip(path)


def test_unknown_field_names_file_line_and_field(tmp_path):
    path = _write(tmp_path, _h100_text(**{"  sm_count: 132": "  sm_count: 132\n  sm_cuont: 132"}))
    with pytest.raises(ConfigError) as err:
        catalog.load_chip(path)
    msg = str(err.value)
    assert "gpu.sm_cuont: unknown field" in msg and "chip.yaml:" in msg and "\n" not in msg


@pytest.mark.parametrize("value", ["0", "-3350"])
def test_zero_or_negative_bandwidth_is_one_clear_line(tmp_path, value):
    path = _write(tmp_path, _h100_text(**{"bandwidth_GBps: 3350": f"bandwidth_GBps: {value}"}))
    with pytest.raises(ConfigError) as err:
        catalog.load_chip(path)
    msg = str(err.value)
    assert "memory.hbm.bandwidth_GBps" in msg and "greater than 0" in msg and "\n" not in msg
    line = int(msg.split(":")[1])
    assert "bandwidth_GBps" in Path(path).read_text().splitlines()[line - 1]


def test_number_without_source_is_rejected(tmp_path):
    path = _write(tmp_path, _h100_text(**{"  tdp_W: 700": "  tdp_W: 700"}).replace(
        '  power.tdp_W: "NVIDIA', '  power.tdp_Wx: "NVIDIA'))
    with pytest.raises(ConfigError, match="power.tdp_W: no source|names no field"):
        catalog.load_chip(path)


def test_unknown_chip_suggests_close_names():
    with pytest.raises(UnknownNameError, match=r"unknown chip 'H100-SMX'.*Did you mean: .*H100"):
        catalog.load_chip("H100-SMX")


def test_unknown_model_suggests_close_names():
    with pytest.raises(UnknownNameError, match="Did you mean: .*Llama-3.1-70B"):
        catalog.load_model("llama-3.1-7b")


def test_names_match_aliases_ignoring_case_and_punctuation():
    assert catalog.load_chip("h100").name == catalog.load_chip("H100-SXM5-80GB").name
    assert catalog.load_model("llama 3.1 8b").name == "Llama-3.1-8B"


@pytest.mark.parametrize("content,needle", [
    (b"\x89PNG\r\n\x1a\n\x00\x00binary", "not a UTF-8 text file"),
    (b"name: x\x00\nkind: gpu\n", "not valid YAML text"),
    (b"name: a\nkind: gpu\nname: b\n", r"chip\.yaml:3: duplicate key 'name' \(first on line 1\)"),
    (("a: " + "[" * 40 + "]" * 40 + "\n").encode(), "nested more than 32 levels deep"),
    (("a: &a [1, 2]\n" + "".join(f"b{i}: *a\n" for i in range(70))).encode(), "more than 64 YAML aliases"),
])
def test_malformed_files_give_one_clear_line(tmp_path, content, needle):
    """Binary bytes, characters YAML forbids, duplicate keys, deep nesting and alias bombs
    are refused before anything is built, each in one line naming the file."""
    path = tmp_path / "chip.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=needle) as err:
        catalog.load_chip(str(path))
    assert "\n" not in str(err.value) and "chip.yaml" in str(err.value)


@pytest.mark.parametrize("value,needle", [("true", "a number is needed, not true"),
                                          (".inf", "a finite number is needed, not inf")])
def test_booleans_and_infinities_are_not_numbers(tmp_path, value, needle):
    path = _write(tmp_path, _h100_text(**{"bandwidth_GBps: 3350": f"bandwidth_GBps: {value}"}))
    with pytest.raises(ConfigError, match=needle) as err:
        catalog.load_chip(path)
    assert "memory.hbm.bandwidth_GBps" in str(err.value)


@pytest.mark.parametrize("old,new,field", [
    ("    bandwidth_GBps: 3350", "    bandwidth_GBps: 3.35", "memory.hbm.bandwidth_GBps = 3.35 GB/s"),  # TB/s typed as GB/s
    ("    capacity_GB: 80", "    capacity_GB: 80000000000", "memory.hbm.capacity_GB"),  # bytes typed as GB
    ("  purchase_USD: 30000", "  purchase_USD: 30000000000", "price.purchase_USD"),  # a price in the wrong unit
    ("    bf16: 989.4", "    bf16: 989400000000000", "compute.peak_dense_TFLOPS.bf16"),  # FLOPS typed as TFLOPS
])
def test_a_unit_mistake_is_stopped_at_its_line_and_an_override_takes_it(tmp_path, old, new, field):
    """kW typed as W is stopped too (tdp_W 0.7), though its override then meets the power check."""
    text = _h100_text(**{old: new})
    with pytest.raises(ConfigError, match="outside the plausible") as err:
        catalog.load_chip(_write(tmp_path, text))
    msg = str(err.value)
    assert field in msg and "plausibility_override" in msg and "\n" not in msg
    line = int(msg.split(":")[1])
    assert new.strip() in text.splitlines()[line - 1]
    dotted = field.split(" ")[0]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    chip = catalog.load_chip(_write(tmp_path / "a", text + f"plausibility_override: [{dotted}]\n"))
    assert chip.name  # taken as written
    with pytest.raises(ConfigError, match="names no number"):
        catalog.load_chip(_write(tmp_path / "b", text + "plausibility_override: [memory.hbm.speed]\n"))


@pytest.mark.parametrize("old,new,field", [
    ("  link_bandwidth_GBps: 50\n", "  link_bandwidth_GBps: 400000\n", "scale_out.link_bandwidth_GBps"),  # Mb/s typed as GB/s
    ("step_latency_us: 1.9,", "step_latency_us: 1900,", "scale_up.protocols.LL128.step_latency_us"),  # ns as us
])
def test_a_unit_mistake_in_a_system_is_stopped_at_its_line_and_an_override_takes_it(tmp_path, old, new, field):
    text = (catalog.systems_dir() / "hgx-h100-8gpu.yaml").read_text()
    assert old in text
    text = text.replace(old, new, 1)
    path = tmp_path / "system.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="outside the plausible") as err:
        catalog.load_system(str(path))
    msg = str(err.value)
    assert field in msg and "plausibility_override" in msg and "\n" not in msg
    assert new.strip().strip(",") in text.splitlines()[int(msg.split(":")[1]) - 1]
    path.write_text(text + f"plausibility_override: [{field}]\n")
    catalog.load_system.cache_clear()
    assert catalog.load_system(str(path)).name  # taken as written


def _shipped_configs() -> list[Path]:
    from sim.catalog.roots import kind_dirs

    return [p for kind in ("chip", "system", "model", "scenario", "stack", "dataset")
            for p in sorted(kind_dirs(kind)[0].glob("*.yaml"))]


def test_header_lines_give_what_parsing_the_whole_file_gives():
    """The index reads name, aliases and chip from their own lines; for every shipped
    config that must equal the whole file's values."""
    from sim.catalog.header import HEADER_KEYS, read_header

    paths = _shipped_configs()
    assert len(paths) > 100
    for path in paths:
        data = read_yaml(path).data
        whole = {k: data[k] for k in HEADER_KEYS if k in data} if isinstance(data, dict) else {}
        assert read_header(path) == whole, path


def test_shipped_configs_are_indexed_without_parsing_whole_files(monkeypatch):
    """The speed of the index rests on the line-reading path: no shipped config may need
    the whole-file fallback."""
    from sim.catalog import header

    def whole_file(path):
        raise AssertionError(f"{path} needed a whole-file parse for its header")

    monkeypatch.setattr(header, "read_yaml", whole_file)
    assert all(header.read_header(path).get("name") for path in _shipped_configs())


@pytest.mark.parametrize("text,expected", [
    ("name: A\naliases:\n- b\n- c\nx: 1\n", {"name": "A", "aliases": ["b", "c"]}),
    ("x: 1\nname: 'A: b'   # quoted\naliases: [d]\nchip: H100\n", {"name": "A: b", "aliases": ["d"], "chip": "H100"}),
    ("base: &b {k: 1}\nname: *b\n", {"name": {"k": 1}}),  # an alias: parsed whole
    ("x: 1\n", {}),  # no name line: parsed whole
])
def test_header_lines_cover_block_lists_quotes_and_fall_back(tmp_path, text, expected):
    from sim.catalog.header import read_header

    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert read_header(path) == expected


def test_a_name_written_twice_is_the_parser_error_naming_the_line(tmp_path):
    from sim.catalog.header import read_header

    path = tmp_path / "c.yaml"
    path.write_text("name: A\nx: 1\nname: B\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3: duplicate key 'name'"):
        read_header(path)

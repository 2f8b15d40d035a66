"""Models from Hugging Face config.json files (sim.catalog.hf): each supported family
gives the same architecture as the catalog's hand-written YAML of that model, runs in
`sim predict`, and a file it cannot read or hold is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.catalog import load_model
from sim.catalog.hf import model_from_config
from sim.cli import main
from sim.errors import ConfigError

HF = Path(__file__).parent / "data" / "hf"
FAMILIES = sorted(p.name for p in HF.iterdir() if p.is_dir())
ARCH = ("layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "gated_mlp", "vocab", "tied_embeddings",
        "attention", "max_context", "moe", "mla")


@pytest.mark.parametrize("family", FAMILIES)
def test_an_imported_config_is_the_catalog_model(family):
    """Two transcriptions of one published config (the importer's, a person's) agree."""
    imported, catalog = model_from_config(HF / family / "config.json"), load_model(family)
    assert {k: getattr(imported, k) for k in ARCH} == {k: getattr(catalog, k) for k in ARCH}
    assert imported.params == catalog.params and imported.active_params == catalog.active_params
    assert "config.json" in imported.sources["*"]


@pytest.mark.parametrize("family", FAMILIES)
def test_sim_predict_takes_a_config_json(family, capsys):
    args = ["predict", "--model", str(HF / family / "config.json"), "--phase", "decode", "--batch", "1",
            "--input-len", "512", "--precision", "fp8", "--json"]
    hardware = ["--system", "GB200-NVL72", "--count", "16", "--tp", "16"] if family == "deepseek-v3" else ["--chip", "B200"]
    assert main(args + hardware) == 0
    assert json.loads(capsys.readouterr().out)["tpot_s"] > 0


def test_import_model_writes_a_yaml_the_catalog_loads(tmp_path, capsys):
    out = tmp_path / "qwen3.yaml"
    assert main(["import-model", str(HF / "qwen3-30b-a3b" / "config.json"), "--name", "my-qwen3", "--out", str(out)]) == 0
    model = load_model(str(out))
    assert model.name == "my-qwen3" and model.moe is not None and model.moe.experts == 128


@pytest.mark.parametrize("content,needle", [
    ('{"model_type": "bert", "hidden_size": 768}', "model_type 'bert' is not supported"),
    ('{"model_type": "llama", "hidden_size": 4096}', "num_attention_heads: missing"),
    ('{"model_type": "llama",\n "hidden_size": }', "config.json:2: not valid JSON"),
    ("[1, 2]", "a config.json is a JSON object"),
    ('{"model_type": "llama", "num_attention_heads": 0, "hidden_size": 4096, "num_hidden_layers": 2, '
     '"intermediate_size": 8, "vocab_size": 10, "max_position_embeddings": 8}', "wrong type or value"),
    ('{"model_type": "llama", "num_attention_heads": 32, "hidden_size": "4096", "num_hidden_layers": 2, '
     '"intermediate_size": 8, "vocab_size": 10, "max_position_embeddings": 8}', "wrong type or value"),
    ('{"model_type": "llama", "num_attention_heads": 32, "hidden_size": 4096, "num_hidden_layers": -2, '
     '"intermediate_size": 8, "vocab_size": 10, "max_position_embeddings": 8}', "layers: Input should be greater than 0"),
    ('{"model_type": "qwen3_moe", "num_attention_heads": 8, "hidden_size": 512, "num_hidden_layers": 4, '
     '"intermediate_size": 1024, "vocab_size": 100, "max_position_embeddings": 64, "num_experts": 4, '
     '"moe_intermediate_size": 128, "num_experts_per_tok": 2, "decoder_sparse_step": 2}',
     "dense layers between MoE layers are not modelled"),
])
def test_a_config_it_cannot_use_is_one_line(tmp_path, content, needle):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=needle) as err:
        model_from_config(path)
    assert "\n" not in str(err.value)


def test_a_binary_or_missing_file_is_one_line(tmp_path, capsys):
    (tmp_path / "config.json").write_bytes(b"\xff\xfe\x00binary")
    assert main(["import-model", str(tmp_path / "config.json")]) == 2
    assert main(["import-model", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not UTF-8" in err[0] and "cannot read" in err[1]

"""Models from a Hugging Face ``config.json``: the architectures the model schema can hold
(Llama, Mistral, Mixtral, Qwen2, Qwen2-MoE, Qwen3, Qwen3-MoE, DeepSeek-V3/R1, gpt-oss),
each field taken from the file and named in the model's source, and what the schema cannot
hold said in its notes. Anything else is one line naming the file and its ``model_type``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sim.errors import ConfigError
from sim.workload.model import ModelSpec

DENSE = ("llama", "mistral", "qwen2", "qwen3")
MOE = ("mixtral", "qwen2_moe", "qwen3_moe", "gpt_oss")
MLA_TYPES = ("deepseek_v3", "deepseek_v2")
SUPPORTED = (*DENSE, *MOE, *MLA_TYPES)


def is_hf_config(name: str) -> bool:
    """Whether a model name is a path to a ``config.json`` (or any ``.json`` file)."""
    return name.endswith(".json")


def read_config(path: Path) -> dict[str, Any]:
    """The file's JSON object, or one line saying why it is not one."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read it ({err.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text (a config.json is JSON text)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config.json is a JSON object of fields")
    return data


def model_from_config(path: Path, name: str | None = None) -> ModelSpec:
    """The model a Hugging Face ``config.json`` describes; a field of the wrong type or a
    zero head count is one line, as a missing field is."""
    try:
        return _model(path, name)
    except (TypeError, ZeroDivisionError) as err:
        raise ConfigError(f"{path}: a field has the wrong type or value ({err})") from None


def _model(path: Path, name: str | None) -> ModelSpec:
    cfg = read_config(path)
    kind = str(cfg.get("model_type", ""))
    if kind not in SUPPORTED:
        raise ConfigError(f"{path}: model_type '{kind or '(none)'}' is not supported "
                          f"(supported: {', '.join(SUPPORTED)})")

    def field(key: str, default: Any = None) -> Any:
        value = cfg.get(key, default)
        if value is None:
            raise ConfigError(f"{path}: {key}: missing (a {kind} config.json has it)")
        return value

    used: dict[str, Any] = {}

    def take(key: str, default: Any = None) -> Any:
        used[key] = value = field(key, default)
        return value

    heads = take("num_attention_heads")
    hidden = take("hidden_size")
    kv_heads = take("num_key_value_heads", heads)
    data: dict[str, Any] = {
        "name": name or str(cfg.get("_name_or_path") or path.parent.name or path.stem),
        "family": kind.replace("_", "-"),
        "layers": take("num_hidden_layers"), "hidden": hidden, "heads": heads, "kv_heads": kv_heads,
        "head_dim": hidden // heads if kind in MLA_TYPES else take("head_dim", hidden // heads),
        "ffn": take("intermediate_size"), "gated_mlp": True, "vocab": take("vocab_size"),
        "tied_embeddings": bool(cfg.get("tie_word_embeddings", False)),
        "attention": "mha" if kv_heads == heads else "mqa" if kv_heads == 1 else "gqa",
        "norm": "rmsnorm", "max_context": take("max_position_embeddings"),
    }
    notes = ["Imported from a Hugging Face config.json; gated (SwiGLU) MLPs and RMSNorm as in every "
             "supported architecture; rope scaling is ignored"]
    if kind in MOE:
        data["moe"] = _moe(kind, take, cfg, notes)
    if kind in MLA_TYPES:
        data.update(_mla(take, cfg, notes, heads))
    if cfg.get("sliding_window") and cfg.get("use_sliding_window", kind in ("mistral", "gpt_oss")):
        notes.append(f"sliding-window attention ({cfg['sliding_window']} tokens) is modelled as full attention, "
                     "so long contexts overstate the KV cache")
    if kind == "qwen3" or kind == "qwen3_moe":
        notes.append("QK-norm is ignored (a per-head RMSNorm, no weights of note)")
    data["notes"] = "; ".join(notes) + "."
    data["sources"] = {"*": f"Hugging Face config.json {path} (model_type {kind}): "
                       + ", ".join(f"{k} {v}" for k, v in used.items())}
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _moe(kind: str, take, cfg: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    if kind in ("mixtral", "gpt_oss"):
        experts, width = take("num_local_experts"), take("intermediate_size")
    else:
        experts, width = take("num_experts"), take("moe_intermediate_size")
    moe = {"experts": experts, "top_k": take("num_experts_per_tok"), "expert_ffn": width, "shared_experts": 0,
           "first_dense_layers": 0}
    shared = cfg.get("shared_expert_intermediate_size")
    if shared:
        if shared % width:
            raise ConfigError(f"shared_expert_intermediate_size {shared} is not a multiple of the expert width "
                              f"{width}: the schema holds shared experts of the routed width")
        moe["shared_experts"] = shared // width
        notes.append(f"the shared expert (width {shared}) is {shared // width} experts of width {width}")
    step, only = cfg.get("decoder_sparse_step", 1), cfg.get("mlp_only_layers", [])
    if step != 1 or only:
        raise ConfigError(f"decoder_sparse_step {step} / mlp_only_layers {only}: dense layers between MoE "
                          "layers are not modelled")
    return moe


def _mla(take, cfg: dict[str, Any], notes: list[str], heads: int) -> dict[str, Any]:
    mla = {k: take(k) for k in ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")}
    dense = take("first_k_dense_replace", 0)
    moe = {"experts": take("n_routed_experts"), "top_k": take("num_experts_per_tok"),
           "expert_ffn": take("moe_intermediate_size"), "shared_experts": take("n_shared_experts", 0),
           "first_dense_layers": dense, "dense_ffn": take("intermediate_size") if dense else 0}
    notes.append("multi-head latent attention: head_dim is v_head_dim and kv_heads the head count (the KV cache "
                 "holds the latent); the multi-token-prediction module is ignored")
    return {"attention": "mla", "kv_heads": heads, "head_dim": mla["v_head_dim"], "mla": mla, "moe": moe}

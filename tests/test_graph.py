"""The workload graph's accounting, pinned against the mistakes found in existing tools."""

from __future__ import annotations

import pytest

from sim.catalog import load_model
from sim.workload.graph import decode_graph, experts_touched, prefill_graph
from sim.workload.spec import Precision
from tests.conftest import small_model

BF16 = Precision()


def _ops(graph, name):
    return [(op, b.count) for b in graph.blocks for op in b.ops if op.name == name]


def _one(graph, name):
    found = _ops(graph, name)
    assert len(found) == 1, name
    return found[0][0]


def test_gated_mlp_has_three_matrices_and_flops_follow_ffn():
    m = small_model()
    g = decode_graph(m, batch=1, cached_len=10, p=BF16)
    up, down = _one(g, "gate_up_proj"), _one(g, "down_proj")
    assert up.weight_bytes + down.weight_bytes == 3 * m.hidden * m.ffn * 2
    assert up.flops + down.flops == 2 * 3 * m.hidden * m.ffn  # not 2 * 8 * hidden^2 (4*hidden)
    plain = small_model(gated_mlp=False)
    g2 = decode_graph(plain, 1, 10, BF16)
    assert _one(g2, "up_proj").weight_bytes + _one(g2, "down_proj").weight_bytes == 2 * m.hidden * m.ffn * 2


def test_decode_reads_kv_once_at_current_length_and_writes_only_new_token():
    m = small_model()
    kv_per_token_layer = 2 * m.kv_heads * m.head_dim * 2  # K and V, bf16
    for cached in (1, 100, 4000):
        att = _one(decode_graph(m, batch=3, cached_len=cached, p=BF16), "attention")
        assert att.kv_read_bytes == 3 * cached * kv_per_token_layer
        assert att.kv_write_bytes == 3 * 1 * kv_per_token_layer
        # flops: every query head over cached + 1 keys, QK and PV
        assert att.flops == 2 * 3 * m.heads * (cached + 1) * 2 * m.head_dim


def test_grouped_heads_share_one_kv_read():
    gqa, mha = small_model(), small_model(kv_heads=8, attention="mha")
    a = _one(decode_graph(gqa, 1, 1000, BF16), "attention")
    b = _one(decode_graph(mha, 1, 1000, BF16), "attention")
    assert b.kv_read_bytes == 4 * a.kv_read_bytes  # 8 vs 2 KV heads
    assert a.flops == b.flops  # same number of query heads


def test_embedding_is_a_lookup_not_a_matmul():
    m = small_model()
    emb = _one(prefill_graph(m, batch=2, seq_len=16, p=BF16), "embedding")
    assert emb.flops == 0 and emb.kind == "embedding"
    assert emb.weight_bytes == 2 * 16 * m.hidden * 2  # one row per token, not the table


def test_prefill_runs_lm_head_on_last_token_only():
    m = small_model()
    head = _one(prefill_graph(m, batch=4, seq_len=512, p=BF16), "lm_head")
    assert head.m == 4
    assert head.flops == 2 * 4 * m.hidden * m.vocab


def test_batch_means_batch():
    m = small_model()
    one, two = decode_graph(m, 1, 64, BF16), decode_graph(m, 2, 64, BF16)
    assert two.flops == pytest.approx(2 * one.flops)
    assert two.weight_bytes == pytest.approx(one.weight_bytes + m.hidden * 2)  # +1 embedding row
    assert two.tokens_out == 2


def test_causal_attention_counts_half_the_score_matrix():
    m = small_model()
    s = 1024
    att = _one(prefill_graph(m, batch=1, seq_len=s, p=BF16), "attention")
    full = 2 * m.heads * s * s * 2 * m.head_dim
    assert att.flops == pytest.approx(full * (s + 1) / (2 * s))


def test_decode_weight_bytes_equal_parameter_count():
    """Conservation: one decode step reads every weight once (lookup: one row per token)."""
    for name in ("Llama-2-7B", "Llama-3.1-70B", "GPT-3-175B"):
        m = load_model(name)
        g = decode_graph(m, batch=1, cached_len=10, p=BF16)
        table = 0 if m.tied_embeddings else m.vocab * m.hidden
        assert g.weight_bytes == pytest.approx((m.params - table + m.hidden) * 2, rel=1e-9), name


def test_moe_reads_only_touched_experts():
    m = load_model("Mixtral-8x7B")
    assert experts_touched(8, 2, 1) == pytest.approx(2)
    assert experts_touched(8, 2, 10_000) == pytest.approx(8)
    one = decode_graph(m, 1, 10, BF16)
    many = decode_graph(m, 256, 10, BF16)
    expert_bytes = 3 * m.hidden * m.moe.expert_ffn * 2
    up_down = [o for o in one.blocks[1].ops if o.name.startswith("experts_") and o.kind == "matmul"]
    assert sum(o.weight_bytes for o in up_down) == pytest.approx(2 * expert_bytes)
    assert many.weight_bytes / one.weight_bytes == pytest.approx(
        (m.params - m.vocab * m.hidden) / (m.active_params), rel=0.02)
    # flops follow top-k, whatever the number of experts touched
    ups = [o for o in many.blocks[1].ops if o.name == "experts_up"][0]
    assert ups.flops == pytest.approx(2 * 256 * 2 * m.hidden * 2 * m.moe.expert_ffn)


def test_identical_sequences_route_to_one_sequences_experts_and_leave_dense_models_alone():
    """256 copies of one sequence decode through the 2 experts one copy takes (as many
    weight bytes as batch 1) with 256x its expert flops; a prefill of identical prompts
    touches one prompt's experts; a dense model's graph does not change; the decode step
    still equals its shared part plus its attention core."""
    from sim.workload.graph import attention_graph, decode_shared_graph
    m = load_model("Mixtral-8x7B")
    one, same = decode_graph(m, 1, 10, BF16), decode_graph(m, 256, 10, BF16, identical=True)
    experts = [o for o in same.blocks[1].ops if o.name in ("experts_up", "experts_down")]
    assert sum(o.weight_bytes for o in experts) == pytest.approx(
        sum(o.weight_bytes for o in one.blocks[1].ops if o.name in ("experts_up", "experts_down")))
    up = next(o for o in experts if o.name == "experts_up")
    assert up.flops == pytest.approx(2 * 256 * 2 * m.hidden * 2 * m.moe.expert_ffn)
    assert same.weight_bytes < decode_graph(m, 256, 10, BF16).weight_bytes
    def expert_bytes(graph):
        return sum(o.weight_bytes for o in graph.blocks[1].ops if o.name in ("experts_up", "experts_down"))

    assert expert_bytes(prefill_graph(m, 8, 3, BF16, identical=True)) == pytest.approx(
        expert_bytes(prefill_graph(m, 1, 3, BF16)))
    assert expert_bytes(prefill_graph(m, 8, 3, BF16)) > expert_bytes(prefill_graph(m, 1, 3, BF16))
    dense = load_model("Llama-3.1-8B")
    assert decode_graph(dense, 64, 10, BF16, identical=True) == decode_graph(dense, 64, 10, BF16)
    shared = decode_shared_graph(m, 256, BF16, identical=True)
    core = attention_graph(m, 256, 1, 10, BF16)
    assert shared.flops + core.flops == pytest.approx(same.flops, rel=1e-12)
    assert shared.weight_bytes + core.weight_bytes == pytest.approx(same.weight_bytes, rel=1e-12)


def test_moe_layers_combine_each_tokens_expert_outputs_in_a_pass_of_their_own():
    """Qwen3-30B-A3B (top 8 of 128, hidden 2048): the combine reads each token's 8 expert
    rows and writes one, 16-bit; tensor ranks each combine every token (their partial sums),
    expert parallelism splits the tokens over its groups."""
    from sim.workload.parallel import shard_op
    m = load_model("Qwen3-30B-A3B")
    tokens = 64
    combine = [o for o in decode_graph(m, tokens, 100, BF16).blocks[1].ops if o.name == "experts_combine"][0]
    assert combine.act_in_bytes == tokens * m.moe.top_k * m.hidden * 2
    assert combine.act_out_bytes == tokens * m.hidden * 2
    assert shard_op(combine, 4) == combine
    assert shard_op(combine, 4, ep=4).act_in_bytes == pytest.approx(combine.act_in_bytes / 4)


def test_mla_caches_the_latent_and_absorbs_in_decode():
    m = load_model("DeepSeek-V3")
    latent = m.mla.kv_lora_rank + m.mla.qk_rope_head_dim
    dec = decode_graph(m, batch=2, cached_len=1000, p=BF16)
    atts = _ops(dec, "attention")
    assert len(atts) == 2  # dense layers block and MoE layers block
    for op, _ in atts:
        assert op.kv_read_bytes == 2 * 1000 * latent * 2
    assert _ops(dec, "mla_absorb_q") and not _ops(dec, "kv_b_proj")
    assert _ops(prefill_graph(m, 1, 128, BF16), "kv_b_proj")
    assert m.kv_elements_per_token == 61 * 576


@pytest.mark.parametrize("name,published_B,rel", [
    ("Llama-2-7B", 6.74, 0.005), ("Llama-2-70B", 68.98, 0.005), ("Llama-3.1-8B", 8.03, 0.005),
    ("Llama-3.1-70B", 70.55, 0.005), ("Llama-3.1-405B", 405.85, 0.005), ("GPT-3-175B", 174.6, 0.005),
    ("Mixtral-8x7B", 46.7, 0.005), ("DeepSeek-V3", 671.0, 0.005), ("Qwen2.5-72B", 72.7, 0.005),
])
def test_parameter_counts_match_published(name, published_B, rel):
    """Published totals: model cards / config.json (Llama, Qwen, Mixtral, DeepSeek-V3 671B
    without its MTP module), GPT-3 paper Table 2.1."""
    assert load_model(name).params / 1e9 == pytest.approx(published_B, rel=rel)


def test_deepseek_active_parameters_match_published():
    """DeepSeek-V3 technical report: 37B activated per token (36.6B in the weights doc)."""
    assert load_model("DeepSeek-V3").active_params / 1e9 == pytest.approx(36.6, rel=0.01)


def test_the_attention_core_is_the_per_sequence_part_of_the_attention_block_for_every_model():
    """The core a decode sample prices alone (built directly for non-MLA models) is exactly
    the ops of the full attention block that read the cache, for every catalog model."""
    from sim.catalog import names
    from sim.workload import graph
    for name in names("model"):
        m = load_model(name)
        per_sequence = graph._per_sequence_names(m)
        for batch, new, cached in ((1, 1, 100), (4, 128, 0), (3, 7, 500)):
            full = graph._attention_ops(m, batch, new, cached, BF16)
            assert graph.attention_core_ops(m, batch, new, cached, BF16) == tuple(
                o for o in full if o.name in per_sequence), name

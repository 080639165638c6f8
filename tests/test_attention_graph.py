"""The lecture's notes on attention (course/attention_graph.py): the graph drawn from the mask and
the weights, encoder vs decoder, attention over a set, cross-attention, and batch rows that never talk.
Each against a result known without running the code under test; and the section that shows them
(lessons/attention_extras.py) under AppTest, called as lesson 2 calls it."""

from __future__ import annotations

import pytest
import torch
from conftest import plotly_spec
from streamlit.testing.v1 import AppTest
from torch.nn import functional as F

from course import attention, attention_graph
from course.figures import attention_graph as figures


@pytest.fixture
def x():
    return attention.toy_input(6, 8, seed=3)  # (T, C)


@pytest.fixture
def head():
    return attention.random_head(8, 4, seed=5)


@pytest.mark.parametrize("causal, n_edges", [(True, 6 * 7 // 2), (False, 36)])
def test_graph_edges_follow_the_mask(x, head, causal, n_edges):
    graph, att = attention_graph.graph_of(x, head, causal)
    assert (graph.n_src, graph.n_dst, len(graph.edges)) == (6, 6, n_edges)
    assert all(e.src <= e.dst for e in graph.edges) == causal  # a decoder only sends forward
    for t in range(6):
        into = graph.into(t)
        assert sum(e.weight for e in into) == pytest.approx(1.0)  # a node's inputs are a weighted average
        assert {e.src for e in into} == set(range(t + 1) if causal else range(6))
        assert all(e.weight == pytest.approx(float(att.wei[t, e.src])) for e in into)


def test_graph_of_a_hand_made_matrix():
    wei = torch.tensor([[1.0, 0.0], [0.25, 0.75]])
    allowed = torch.tensor([[True, False], [True, True]])
    graph = attention_graph.attention_graph(wei, allowed)
    assert graph.edges == (
        attention_graph.Edge(0, 0, 1.0),
        attention_graph.Edge(0, 1, 0.25),
        attention_graph.Edge(1, 1, 0.75),
    )
    assert len(attention_graph.attention_graph(wei).edges) == 4  # no mask: every pair, even a zero weight


def test_encoder_is_the_decoder_without_its_mask(x, head):
    both = attention_graph.encoder_vs_decoder(x, head)
    dec, enc = both.decoder.wei, both.encoder.wei
    assert torch.equal(dec[0], torch.eye(6)[0])  # the first token can only read itself
    assert torch.all(dec.triu(1) == 0) and torch.all(enc > 0)
    assert both.same_last_row  # the last position reads everything either way
    torch.testing.assert_close(dec[-1], enc[-1])
    assert not torch.allclose(dec[:-1], enc[:-1])


def test_attention_without_a_mask_ignores_order(x, head):
    perm, diff = attention_graph.shuffle_check(x, head, seed=1)
    assert sorted(perm.tolist()) == list(range(6)) and perm.tolist() != list(range(6))
    assert diff < 1e-5
    # With the causal mask, order matters: the same shuffle gives different outputs.
    out = attention.self_attention(x, head, causal=True).out
    assert not torch.allclose(attention.self_attention(x[perm], head, causal=True).out, out[perm], atol=1e-3)


def test_cross_attention_shapes_and_pytorch(x, head):
    context = attention.toy_input(3, 8, seed=9)  # (T_k, C), shorter than x
    att = attention_graph.cross_attention(x, context, head)
    assert att.wei.shape == (6, 3) and att.out.shape == (6, 4) and att.k.shape == (3, 4)
    torch.testing.assert_close(att.wei.sum(-1), torch.ones(6))
    torch.testing.assert_close(att.out, F.scaled_dot_product_attention(att.q, att.k, att.v))
    assert attention_graph.matches_pytorch(att)
    assert len(attention_graph.attention_graph(att.wei).edges) == 18


def test_cross_attention_known_results(x, head):
    # On its own sequence, cross-attention is an encoder's self-attention.
    torch.testing.assert_close(
        attention_graph.cross_attention(x, x, head).out, attention.self_attention(x, head, causal=False).out
    )
    # A context of identical tokens gets equal weights, and every query receives that token's value.
    same = attention.toy_input(1, 8, seed=2).expand(4, 8)
    att = attention_graph.cross_attention(x, same, head)
    torch.testing.assert_close(att.wei, torch.full((6, 4), 0.25))
    torch.testing.assert_close(att.out, (same[:1] @ head.value.T).expand(6, 4))
    # Each query row depends on its own token and the context only.
    moved = x.clone()
    moved[2] += 1.0
    context = attention.toy_input(5, 8, seed=4)
    before, after = (
        attention_graph.cross_attention(x, context, head).out,
        attention_graph.cross_attention(moved, context, head).out,
    )
    changed = (after - before).abs().amax(-1) > 0
    assert changed.tolist() == [False, False, True, False, False, False]


def test_cross_attention_needs_equal_widths(x, head):
    with pytest.raises(ValueError, match="same width"):
        attention_graph.cross_attention(x, torch.zeros(3, 5), head)


def test_batch_rows_never_talk():
    batch = torch.stack([attention.toy_input(5, 8, seed=s) for s in range(4)])  # (B, T, C)
    state = torch.random.get_rng_state()
    demo = attention_graph.batch_rows(batch, row=2, n_head=2, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)  # seeded without touching the global RNG
    assert demo.row_diff[2] > 0.01
    assert [d for b, d in enumerate(demo.row_diff) if b != 2] == [0.0, 0.0, 0.0]
    assert torch.equal(demo.out[[0, 1, 3]], demo.out_changed[[0, 1, 3]])
    assert torch.equal(
        attention_graph.batch_rows(batch, row=2, seed=0).out,
        attention_graph.batch_rows(batch, row=2, seed=0).out,
    )
    with pytest.raises(ValueError, match="row must be"):
        attention_graph.batch_rows(batch, row=4)


def test_graph_figure_draws_every_edge_once(x, head):
    graph, _ = attention_graph.graph_of(x, head, causal=True)
    labels = [str(i) for i in range(6)]
    fig = figures.graph_figure(graph, 5, src_labels=labels, dst_labels=labels, title="t")
    lines = [tr for tr in fig.data if tr.mode == "lines"]
    grey = sum(list(tr.x).count(None) for tr in lines if tr.line.color == figures.EDGE)
    orange = [tr for tr in lines if tr.line.color != figures.EDGE]
    assert grey + len(orange) == len(graph.edges) and len(orange) == 6  # position 5 reads 0..5
    weights = next(tr for tr in fig.data if tr.mode == "text")
    assert len(weights.text) == 6


# ---- the section under AppTest -----------------------------------------------------------------


def _attention_script():
    from course import attention
    from lessons.attention_extras import attention_extras

    attention_extras(attention.toy_input(8, 8, 42), 42, start=5)


def test_attention_extras():
    at = AppTest.from_function(_attention_script, default_timeout=60).run()
    assert not at.exception
    assert [h.value for h in at.header][0] == "5 · Attention is a directed graph"
    assert "**True**" in at.caption[0].value  # the last row is the same with and without the mask
    assert plotly_spec(at, "attn_graph_fig")["layout"]["title"]["text"].startswith("36 edges")
    at.button_group(key="attn_graph_mode").set_value("encoder (no mask)").run()
    assert plotly_spec(at, "attn_graph_fig")["layout"]["title"]["text"].startswith("64 edges")
    at.slider(key="attn_cross_len").set_value(3).run()
    assert "(8, 16)" in at.caption[1].value and "**True**" in at.caption[1].value
    assert plotly_spec(at, "attn_cross_fig")["layout"]["title"]["text"].startswith("context sends (3")
    at.slider(key="attn_batch_B").set_value(6).run()
    at.slider(key="attn_batch_row").set_value(5).run()
    bars = plotly_spec(at, "attn_batch_fig")["data"][0]["text"]
    assert bars[:5] == ["0 exactly"] * 5 and bars[5] != "0 exactly"
    assert "bit for bit the same**: True" in at.caption[2].value
    assert not at.exception

"""course.inside: one hooked forward pass of the real model. The trace's logits are `model(idx)`'s,
the logit lens's last row is the trace's logits, every recorded stage is what the next stage
consumed (checked by running the model's own modules on it), config switches that remove pieces
are handled, hooks are gone afterwards and act only on their own thread; plus the page's views
(embeddings, the lens table, dropout in train mode) and their figures."""

import threading

import numpy as np
import pytest
import torch
from conftest import decode_array, fresh

from course import inside, inside_views
from course.figures import inside as figures
from tinygpt import GPT, CharTokenizer, GPTConfig
from tinygpt.device import use_threads
from tinygpt.gpt import mask_future
from tinygpt.sample import next_token_probs

PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks? It is "


def ids_for(model, T: int | None = None, seed: int = 1) -> torch.Tensor:
    T = T or model.config.block_size
    return torch.randint(model.config.vocab_size, (1, T), generator=torch.Generator().manual_seed(seed))


def check_logits(model, idx) -> inside.Trace:
    """Trace idx and check the two promises: logits as `model(idx)`, the lens's last row as the logits."""
    t = inside.trace(model, idx)
    with torch.no_grad():
        expected = model(idx)[0][0]
    # the trace runs attention's explicit path (for the weights), the plain call the fused kernel
    assert torch.allclose(t.logits, expected, atol=1e-5, rtol=1e-4)
    assert torch.equal(t.lens[-1], t.logits)
    assert t.lens.shape == (model.config.n_layer + 1, idx.size(1), model.config.vocab_size)
    return t


def test_the_shipped_model_traced_gives_its_own_logits(shipped):
    idx = torch.tensor([shipped.tokenizer.encode(PROMPT)])
    t = check_logits(shipped.model, idx)
    assert len(t.layers) == 4 and t.layers[0].hidden.shape == (64, 1024)


def test_a_fresh_model_traced_gives_its_own_logits():
    check_logits(fresh(), ids_for(fresh()))


@pytest.mark.parametrize(
    "switches",
    [
        dict(pos_emb=False),
        dict(mlp=False),
        dict(layer_norm=False),
        dict(proj=False, mlp_ratio=1),
        dict(residual=False),
        dict(attn_scale=False, activation="relu"),
        dict(use_flash=False),
    ],
    ids=lambda s: ",".join(s),
)
def test_models_with_pieces_switched_off_trace_too(switches):
    model = fresh(**switches)
    t = check_logits(model, ids_for(model))
    check_stages(model, t)
    stages = inside_views.stages_of(t)
    assert ("pos_emb" in stages) == model.config.pos_emb
    assert ("hidden" in stages) == ("resid_out" in stages) == model.config.mlp
    assert (
        len(t.streams)
        == len(inside_views.stream_names(t))
        == 1 + model.config.n_layer * (1 + model.config.mlp)
    )


def check_stages(model: GPT, t: inside.Trace) -> None:
    """Each recorded stage is what the model's next module turned into the next recorded stage, bit
    for bit: recomputed on as many threads as the trace used (a matrix product split another way
    may round differently)."""
    tr = model.transformer
    with torch.no_grad(), use_threads(inside.TRACE_THREADS):
        x = t.tok_emb + (t.pos_emb if t.pos_emb is not None else 0)
        assert torch.allclose(t.x0, x)  # eval mode: dropout is the identity
        assert torch.equal(t.layers[0].resid_in, t.x0)
        for i, (block, layer) in enumerate(zip(tr.h, t.layers, strict=True)):
            assert torch.equal(layer.ln_1, block.ln_1(layer.resid_in))
            assert torch.equal(layer.weights, mask_future(layer.scores).softmax(-1))
            assert torch.allclose(
                layer.heads, (layer.weights @ v_of(block, layer)).transpose(0, 1).flatten(1), atol=1e-6
            )
            assert torch.equal(layer.attn_out, block.attn.c_proj(layer.heads))
            add = (lambda a, b: a + b) if model.config.residual else (lambda a, b: b)
            assert torch.equal(layer.resid_mid, add(layer.resid_in, layer.attn_out))
            if layer.hidden is not None:
                assert torch.equal(layer.ln_2, block.ln_2(layer.resid_mid))
                assert torch.equal(layer.hidden, block.mlp.act(block.mlp.c_fc(layer.ln_2)))
                assert torch.equal(layer.mlp_out, block.mlp.c_proj(layer.hidden))
                assert torch.equal(layer.resid_out, add(layer.resid_mid, layer.mlp_out))
            if i + 1 < len(t.layers):
                assert torch.equal(t.layers[i + 1].resid_in, layer.resid_out)
        assert torch.equal(t.ln_f, tr.ln_f(t.layers[-1].resid_out))
        assert torch.allclose(t.logits, model.lm_head(t.ln_f), atol=1e-6)


def v_of(block, layer: inside.LayerTrace) -> torch.Tensor:
    """The values, from the first LayerNorm's output through the block's own c_attn: (nh, T, hs)."""
    C = layer.ln_1.size(-1)
    v = block.attn.c_attn(layer.ln_1)[:, 2 * C :]  # (T, C)
    return v.view(v.size(0), block.attn.n_head, -1).transpose(0, 1)


def test_every_stage_is_what_the_next_one_consumed(shipped):
    t = inside.trace(shipped.model, torch.tensor([shipped.tokenizer.encode(PROMPT)]))
    check_stages(shipped.model, t)
    with torch.no_grad():  # the attention weights are the model's own
        maps = shipped.model.attention_maps(torch.tensor([t.ids]))[:, 0]
    assert torch.allclose(torch.stack([layer.weights for layer in t.layers]), maps, atol=1e-6)


def test_hooks_are_removed_and_the_model_is_unchanged():
    model = fresh()
    idx = ids_for(model)
    inside.trace(model, idx)
    for module in model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks
    assert not model.training


def test_hooks_ignore_other_threads():
    model = fresh()
    rec = inside._Recorder()
    rec.output(model.lm_head, "logits")
    rec.need_weights(model.transformer.h[0].attn)
    other = {}

    def run_elsewhere():
        x = torch.randn(1, 4, model.config.n_embd)
        model.lm_head(x)
        other["att"] = model.transformer.h[0].attn(x)[1]

    thread = threading.Thread(target=run_elsewhere)
    thread.start()
    thread.join()
    assert rec.seen == {} and other["att"] is None  # no capture, and need_weights left alone
    model.lm_head(torch.randn(1, 4, model.config.n_embd))
    assert rec.seen["logits"].shape == (1, 4, model.config.vocab_size)
    rec.remove()


def test_trace_wants_one_sequence():
    with pytest.raises(ValueError, match=r"\(1, T\)"):
        inside.trace(fresh(), torch.zeros(2, 4, dtype=torch.long))


def test_a_prompt_is_read_the_way_sampling_reads_it(shipped):
    tok = shipped.tokenizer
    tr = inside.trace_prompt(shipped.model, tok, "Hello ✓ world")
    assert tr.unknown == ("✓",) and tr.text == "Hello " + tok.default_replacement() + " world"
    assert "Not in this model's vocabulary: '✓'" in tr.notes[0]
    assert tr.labels[0] == "0:H" and tr.labels[5] == "5:␣"
    long = inside.trace_prompt(shipped.model, tok, "a" * 100 + "b" * 100)
    assert long.cropped == 72 and len(long.trace.ids) == 128 and long.text.endswith("b" * 100)
    assert "the first 72 were left out" in long.notes[0]
    empty = inside.trace_prompt(shipped.model, tok, "")
    assert empty.text == "\n" and empty.notes == [
        "An empty prompt is read as '\\n', the way sampling starts from nothing."
    ]


def test_characters_are_sorted_into_kinds():
    assert [inside_views.char_kind(c) for c in "aZx3?\n b"] == [
        "vowel",
        "upper case",
        "consonant",
        "digit",
        "punctuation",
        "space/newline",
        "space/newline",
        "consonant",
    ]


def test_the_embedding_map_is_the_first_two_principal_components(shipped):
    chars = shipped.tokenizer.chars
    em = inside_views.embedding_map(shipped.model, chars)
    w = shipped.model.transformer.wte.weight.detach()
    w = w - w.mean(0)
    assert em.points.shape == (len(chars), 2) and em.chars == tuple(chars)
    # the projection keeps as much variance as the top two singular values say, and no more
    s = torch.linalg.svdvals(w)
    assert torch.allclose(em.points.var(0, correction=0).sum() * len(chars), (s[:2] ** 2).sum(), rtol=1e-4)
    assert em.explained[0] >= em.explained[1] > 0 and sum(em.explained) < 1
    assert torch.equal(em.points, inside_views.embedding_map(shipped.model, chars).points)  # no random signs
    assert em.kinds[chars.index("a")] == "vowel" and em.kinds[chars.index("\n")] == "space/newline"


def test_position_similarity(shipped):
    sim = inside_views.position_similarity(shipped.model)
    assert sim.shape == (128, 128) and torch.allclose(sim.diagonal(), torch.ones(128), atol=1e-5)
    assert torch.allclose(sim, sim.T)
    assert inside_views.position_similarity(fresh(pos_emb=False)) is None


def test_the_lens_table_reads_the_lens(shipped):
    t = inside.trace(shipped.model, torch.tensor([shipped.tokenizer.encode(PROMPT)]))
    itos = shipped.tokenizer.itos
    lens = inside_views.lens_table(t, itos)
    assert lens.rows[0] == "embedding" and lens.rows[-1] == "after block 3 = the output"
    model_guess = [itos[i] for i in t.logits.argmax(-1).tolist()]
    assert lens.top[-1] == [inside.char_label(c) for c in model_guess]
    assert lens.hits[-1] == sum(g == c for g, c in zip(model_guess, PROMPT[1:], strict=False))
    assert torch.allclose(lens.p[-1], t.logits.softmax(-1).max(-1).values)
    assert lens.hits[-1] > lens.hits[0]  # the trained model's guess improves with depth
    assert f"after block 3 = the output {lens.hits[-1]}/63" in lens.summary


def test_top_next_uses_samplings_temperature():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    itos = dict(enumerate("ab\n "))
    rows = inside_views.top_next(logits, itos, k=3, temperature=0.5)
    assert [r["char"] for r in rows] == ["a", "b", "\n"] and rows[2]["label"] == "⏎"
    assert [r["p"] for r in rows] == pytest.approx(next_token_probs(logits, 0.5)[:3].tolist())


def test_dropout_in_train_mode_leaves_the_shared_model_alone(shipped):
    model = shipped.model
    idx = torch.tensor([shipped.tokenizer.encode(PROMPT)])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    twin = inside.dropout_twin(model, 0.3)
    assert twin.training and not model.training and model.config.dropout == 0.1
    eval_pass = inside.trace(model, idx)
    a, b = (
        inside.trace_seeded(twin, tuple(idx[0].tolist()), 0),
        inside.trace_seeded(twin, tuple(idx[0].tolist()), 0),
    )
    assert torch.equal(a.x0, b.x0) and torch.equal(a.logits, b.logits)  # the seed fixes the dropped units
    other = inside.trace_seeded(twin, tuple(idx[0].tolist()), 1)
    assert not torch.equal(a.x0, other.x0)
    dropped = a.x0 == 0
    assert 0.25 < dropped.float().mean() < 0.35
    assert torch.allclose(
        a.x0[~dropped], eval_pass.x0[~dropped] / 0.7, atol=1e-6
    )  # the rest scaled by 1/(1-p)
    assert not torch.allclose(a.logits, eval_pass.logits)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    same = inside.trace_seeded(inside.dropout_twin(model, 0.0), tuple(idx[0].tolist()), 0)
    assert torch.allclose(same.logits, eval_pass.logits, atol=1e-5)  # p = 0: train mode is eval mode


def test_stage_tensors_have_the_shapes_the_diagram_names(shipped):
    t = inside.trace(shipped.model, torch.tensor([shipped.tokenizer.encode(PROMPT[:10])]))
    widths = dict(hidden=1024, logits=65)
    assert inside_views.stages_of(t) == list(inside_views.STAGES)
    for stage in inside_views.STAGES:
        for layer in (0, 3):
            assert inside_views.stage_tensor(t, stage, layer).shape == (10, widths.get(stage, 256))
    assert torch.equal(inside_views.stage_tensor(t, "ln_2", 3), t.layers[3].ln_2)


# ---- figures ------------------------------------------------------------------------------------


def test_the_diagram_marks_the_chosen_stage_and_leaves_out_what_is_off():
    config = GPTConfig.preset("small")
    dot = figures.architecture_dot(config, "hidden", 2)
    assert 'hidden [label="MLP: c_fc + GELU", shape=box, style="filled,rounded", fillcolor="#c2410c"' in dot
    assert "block 2 of 4" in dot and "pos_emb" in dot and "residual" in dot
    bare = figures.architecture_dot(config.replace(pos_emb=False, mlp=False, residual=False), "ln_1", 0)
    assert "pos_emb" not in bare and "hidden" not in bare and "residual" not in bare
    assert 'fillcolor="#c2410c"' not in figures.architecture_dot(config, "no such stage", 0)
    off = figures.architecture_dot(config.replace(layer_norm=False), "x0", 0)
    assert "LayerNorm: off ln_1" in off and "dashed" in off


def test_figures_draw_the_traced_numbers(shipped):
    tok, model = shipped.tokenizer, shipped.model
    tr = inside.trace_prompt(model, tok, PROMPT[:20])
    t, labels, pos = tr.trace, tr.labels, 12
    layer = t.layers[1]
    att = figures.attention_figure(layer, 2, pos, labels).to_dict()
    assert np.allclose(decode_array(att["data"][2]["y"]), layer.weights[2, pos].numpy())
    masked = decode_array(att["data"][1]["y"])
    assert np.isnan(masked[pos + 1 :]).all() and np.allclose(
        masked[: pos + 1], layer.scores[2, pos, : pos + 1]
    )
    assert att["data"][3]["text"] == ["−∞"] * (20 - pos - 1)
    stream = figures.stream_figure(t, labels, pos).to_dict()
    assert np.allclose(decode_array(stream["data"][1]["y"]), [x[pos].norm() for x in t.streams], rtol=1e-5)
    lens = figures.lens_figure(inside_views.lens_table(t, tok.itos), labels).to_dict()
    assert decode_array(lens["data"][0]["z"]).shape == (5, 20)
    ln = figures.layernorm_figure(layer.resid_in, layer.ln_1, labels, pos).to_dict()
    assert np.allclose(decode_array(ln["data"][2]["y"]), layer.ln_1.std(-1, correction=0), rtol=1e-5)
    heads = figures.heads_figure(layer, pos, 4).to_dict()
    assert len(heads["layout"]["shapes"]) == 3
    hidden = figures.hidden_figure(layer.hidden[pos], "gelu").to_dict()
    fired = decode_array(hidden["data"][1]["x"])
    assert len(fired) == int((layer.hidden[pos] > 0).sum()) and (fired > 0).all()
    twin = inside.trace_seeded(inside.dropout_twin(model, 0.5), t.ids, 0)
    drop = figures.dropout_figure(twin.x0, labels, pos).to_dict()
    black = decode_array(drop["data"][1]["z"])
    assert black.shape == (20, 64) and (~np.isnan(black) == (twin.x0[:, :64] == 0).numpy()).all()
    em = figures.embedding_figure(inside_views.embedding_map(model, tok.chars)).to_dict()
    assert sum(len(trace["text"]) for trace in em["data"]) == tok.vocab_size
    assert (
        figures.similarity_figure(inside_views.position_similarity(model)).to_dict()["data"][0]["zmid"] == 0
    )


def test_a_model_on_its_own_vocabulary():
    """A checkpoint's tokenizer need not be Shakespeare's: the views follow the model's vocabulary."""
    tok = CharTokenizer.from_text("abc \n")
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("tiny", vocab_size=tok.vocab_size)).eval()
    tr = inside.trace_prompt(model, tok, "abcab")
    assert inside_views.lens_table(tr.trace, tok.itos).top[0][0] in {"a", "b", "c", "␣", "⏎"}
    assert inside_views.embedding_map(model, tok.chars).kinds == (
        "space/newline",
        "space/newline",
        "vowel",
        "consonant",
        "consonant",
    )

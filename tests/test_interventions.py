"""course.interventions and course.induction: ablating nothing is the clean run bit for bit, patching
a whole stage from a prompt's own run changes nothing, switching a head off changes the output, each
patch restores what it should, and a GPT built by hand with a copying head (a previous-token head,
then an induction head) scores far higher on induction than a random one; plus the page's sentences."""

import threading

import pytest
import torch
from conftest import fresh

from course import induction, interventions_views, patching
from course import interventions as iv
from course.interventions import InterventionError, Site
from course.rungs import RUNGS, build_rung
from tinygpt import GPT, GPTConfig


def ids(model, T: int | None = None, seed: int = 1, rows: int = 1) -> torch.Tensor:
    T = T or model.config.block_size
    return torch.randint(model.config.vocab_size, (rows, T), generator=torch.Generator().manual_seed(seed))


def every_site(model) -> list[Site]:
    return iv.heads(model) + iv.layers(model) + patching.patch_sites(model, "resid")


SWITCHES = [
    dict(),
    dict(mlp=False),
    dict(layer_norm=False),
    dict(proj=False, mlp_ratio=1),
    dict(residual=False),
]


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(s) or "full")
def test_ablating_nothing_is_the_clean_run_bit_for_bit(switches):
    model = fresh(**switches)
    idx = ids(model, rows=3)
    with torch.no_grad():
        expected, _ = model(idx)
    logits, seen = iv.run(model, idx, read=every_site(model))  # hooks that only read
    assert torch.equal(logits, expected)
    assert torch.equal(iv.run(model, idx)[0], expected)
    assert len(seen) == len(every_site(model))
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in model.modules())  # all removed


@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: ",".join(s) or "full")
def test_patching_a_whole_stage_from_a_prompts_own_run_changes_nothing(switches):
    model = fresh(**switches)
    idx = ids(model)
    clean, seen = iv.run(model, idx, read=every_site(model))
    for site in every_site(model):
        patched, _ = iv.run(model, idx, {site: iv.patch_all(seen[site][0])})
        assert torch.equal(patched, clean), site


def test_switching_a_head_off_changes_the_output_and_nothing_before_its_block(shipped):
    model = shipped.model
    idx = torch.tensor([shipped.tokenizer.encode("ROMEO:\nBut soft, what light")])
    clean, seen = iv.run(model, idx, read=[Site("resid", 1), Site("resid", 2)])
    site = Site("head", 1, 2)
    for mode, means in (("zero", None), ("mean", iv.mean_activations(model, idx, [site]))):
        logits, after = iv.run(model, idx, {site: iv.ablation(site, mode, means)}, read=seen)
        assert not torch.allclose(logits, clean, atol=1e-4), mode
        assert torch.equal(after[Site("resid", 1)], seen[Site("resid", 1)])  # the stream entering block 1
        assert not torch.equal(after[Site("resid", 2)], seen[Site("resid", 2)])
    # the head's slice of c_proj's input is what is replaced: zeros there, the rest untouched
    heads, hs, hooked = Site("head", 1, 2), model.config.head_size, {}
    c_proj = model.transformer.h[1].attn.c_proj
    handle = c_proj.register_forward_hook(
        lambda m, args, out: hooked.update(x=args[0])
    )  # after the pre-hooks
    iv.run(model, idx, {heads: iv.zero})
    handle.remove()
    assert torch.equal(hooked["x"][..., 2 * hs : 3 * hs], torch.zeros(1, idx.size(1), hs))
    assert hooked["x"][..., : 2 * hs].abs().sum() > 0


def test_without_an_mlp_or_past_the_last_block_the_error_says_why():
    model = fresh(mlp=False)
    with pytest.raises(InterventionError, match="no MLP"):
        iv.run(model, ids(model), {Site("mlp", 0): iv.zero})
    with pytest.raises(InterventionError, match="blocks 0 to 1"):
        iv.run(fresh(), ids(fresh()), {Site("attn", 2): iv.zero})
    with pytest.raises(InterventionError, match="heads 0 to 1"):
        iv.run(fresh(), ids(fresh()), {Site("head", 0, 5): iv.zero})
    assert Site("mlp", 0) not in iv.layers(model)
    with pytest.raises(InterventionError, match="no MLP"):
        patching.patch_sites(model, "mlp")


def test_each_part_switched_off_raises_the_shipped_models_loss(shipped):
    tok = shipped.tokenizer
    val = torch.tensor(tok.encode("ROMEO:\nBut soft, what light through yonder window breaks?\n" * 8))
    x, y = iv.reference_batch(val, 64, rows=2)
    assert x.shape == y.shape == (2, 64) and torch.equal(x[:, 1:], y[:, :-1])
    model = shipped.model
    means = iv.mean_activations(model, x, iv.heads(model) + iv.layers(model))
    whole = iv.ablate_each(model, x, y, iv.layers(model), "mean", means)
    assert all(whole.rise[Site("mlp", i)] > 0 for i in range(4))
    assert whole.top() in (Site("attn", 0), Site("mlp", 0))
    heads = iv.ablate_each(model, x, y, iv.heads(model)[:3], "zero")
    grid = heads.grid(4, 4)
    assert grid.shape == (4, 4) and grid[0, :3].isfinite().all() and grid[1:].isnan().all()


def test_patching_maps_where_the_difference_lives(shipped):
    tok, model = shipped.tokenizer, shipped.model
    clean, corrupt = "MERCUTIO:\nA plague o' both your hou", "MERCUTIO:\nA plague o' both your mou"
    pm = patching.patch_map(model, tok.encode(clean), tok.encode(corrupt), "resid")
    T, diff = len(clean), clean.index("hou")
    assert pm.differ == (diff,) and pm.restored.shape == (5, T)
    assert tok.itos[pm.target] == "s" and pm.p_clean > 0.9 > 0.1 > pm.p_corrupt
    # the embedding at the changed character, and the last stream at the last position, restore it all
    assert pm.restored[0, diff] == pytest.approx(1, abs=1e-4)
    assert pm.restored[-1, -1] == pytest.approx(1, abs=1e-4)
    assert (pm.restored[:, :diff] == 0).all()  # before the change both runs are the same
    assert (pm.restored[0, diff + 1 :].abs() < 1e-4).all()  # the embedding elsewhere carries nothing
    text = interventions_views.patch_summary(pm, tuple(clean), tok.itos)
    assert "'s'" in text and f"{pm.p_clean:.0%}" in text


def test_patching_needs_prompts_of_one_length_that_differ(shipped):
    tok, model = shipped.tokenizer, shipped.model
    with pytest.raises(InterventionError, match="equally long"):
        patching.patch_map(model, tok.encode("ROMEO:"), tok.encode("JULIET:"))
    with pytest.raises(InterventionError, match="the same"):
        patching.patch_map(model, tok.encode("ROMEO:"), tok.encode("ROMEO:"))


# ---- induction ---------------------------------------------------------------------------------

V, T = 32, 16  # vocabulary and block size of the hand-built model
CHARS = "abcdefghijklmnopqrstuvwxyz .,!?:"  # V characters


def copying_model() -> GPT:
    """Two attention-only blocks that copy: block 0's head writes each position's previous token into
    its own channels, and block 1's head, at token t, attends to where the previous token was t and
    writes the token found there to channels the LM head reads. Channels: current token (0..V-1),
    previous token (V..2V-1), copied token (2V..3V-1), position (3V..3V+T-1)."""
    config = GPTConfig(
        vocab_size=V, block_size=T, n_layer=2, n_head=1, n_embd=3 * V + T, dropout=0.0, mlp=False,
        layer_norm=False, attn_scale=False, init="pytorch",
    )  # fmt: skip
    model = GPT(config).eval()
    C, S, P = config.n_embd, 30.0, 3 * V
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.transformer.wte.weight[:, :V] = torch.eye(V)
        model.transformer.wpe.weight[:, P:] = torch.eye(T)
        prev, induct = (block.attn for block in model.transformer.h)
        for attn in (prev, induct):
            attn.c_proj.weight.copy_(torch.eye(C))
        q, k, v = prev.c_attn.weight.view(3, C, C)  # (out, in) each
        for i in range(1, T):
            q[P + i - 1, P + i] = S  # the query at position i looks for the key of position i - 1
        k[P:, P:] = torch.eye(T)
        v[V : 2 * V, :V] = torch.eye(V)  # and moves that token into the "previous token" channels
        q, k, v = induct.c_attn.weight.view(3, C, C)
        q[:V, :V] = S * torch.eye(V)  # the current token ...
        k[:V, V : 2 * V] = torch.eye(V)  # ... against each position's previous token
        v[2 * V : 3 * V, :V] = torch.eye(V)  # copy the token found there
        model.lm_head.weight[:, 2 * V : 3 * V] = 20 * torch.eye(V)
    return model


def test_a_hand_built_copying_head_scores_far_above_a_random_model():
    built = induction.measure(copying_model(), "zero")
    torch.manual_seed(0)
    config = copying_model().config.replace(init="gpt2")
    rand = induction.measure(GPT(config).eval(), "zero")
    assert built.half == rand.half == T // 2
    # not 1: in random strings of 32 characters a character often occurs more than once
    assert built.scores[1, 0] > 0.7 and built.heads() == [Site("head", 1, 0)] == [built.key_head()]
    assert built.previous[0, 0] > 0.9  # block 0's head: the previous-token head
    assert rand.scores.max() < 2 * rand.baseline and rand.heads() == []
    assert built.scores[1, 0] > 5 * rand.scores.max()
    assert built.loss_second < 1 < 3 < built.loss_first  # it copies the second half
    assert built.loss_rise[1, 0] > 1.5  # and cannot without its induction head
    assert "Yes: this model has 1 induction head" in induction.verdict(built, V)
    assert "No: this model has no induction head" in induction.verdict(rand, V)


def test_scores_read_the_diagonal_after_the_earlier_copy():
    half = 4
    maps = torch.zeros(1, 1, 1, 2 * half, 2 * half)
    for i in range(half, 2 * half):
        maps[0, 0, 0, i, i - half + 1] = 0.5
    assert induction.induction_scores(maps, half).item() == pytest.approx(0.5)


def test_the_hand_built_model_copies_a_name():
    from tinygpt import CharTokenizer

    tok = CharTokenizer(CHARS)
    nc = induction.copy_name(copying_model(), tok, "cafe", Site("head", 1, 0), "zero")
    assert nc.text == "cafe cafe" and nc.completion == "afe"
    # 'a' only half: position 0 has no previous token, so block 0 gives it its own ('c') and the
    # induction head splits its attention between the two positions that seem to follow a 'c'
    assert nc.second.tolist() == pytest.approx([0.5, 1, 1], abs=0.01)
    assert (nc.second_without < 0.1).all() and (nc.first < 0.01).all()
    assert "copies" in interventions_views.copy_sentence(nc)
    with pytest.raises(ValueError, match="block_size"):
        induction.copy_name(copying_model(), tok, "abcdefgh", Site("head", 1, 0))
    with pytest.raises(ValueError, match="lacks"):
        induction.copy_name(copying_model(), tok, "XY", Site("head", 1, 0))


def test_the_shipped_model_has_no_induction_head_and_says_so(shipped):
    model = shipped.model
    ind = induction.measure(model, "zero", rows=2)
    assert ind.heads() == [] and ind.scores.max() < induction.THRESHOLD
    assert ind.previous[0, 1] > 0.5  # block 0, head 1 attends to the character just before
    text = induction.verdict(ind, 65)
    assert "No: this model has no induction head" in text
    assert "block 0, head 1 puts" in text and "a previous-token head, but no later block uses it" in text


def test_a_one_layer_one_head_model_gets_every_result():
    torch.manual_seed(0)
    model = GPT(GPTConfig.preset("tiny", n_layer=1, n_head=1, block_size=16)).eval()
    idx = ids(model)
    x, y = iv.reference_batch(ids(model, T=200)[0], 16, rows=3)
    means = iv.mean_activations(model, x, iv.heads(model) + iv.layers(model))
    ab = iv.ablate_each(model, x, y, iv.heads(model), "mean", means)
    assert ab.grid(1, 1).shape == (1, 1) and ab.top() == Site("head", 0, 0)
    assert induction.measure(model, "mean", means).scores.shape == (1, 1)
    corrupt = idx.clone()
    corrupt[0, 3] = (corrupt[0, 3] + 1) % 65
    try:
        pm = patching.patch_map(model, idx[0].tolist(), corrupt[0].tolist(), "attn")
        assert pm.restored.shape == (1, 16)
    except InterventionError as e:  # an untrained model may predict the same either way
        assert "no difference to restore" in str(e)


@pytest.mark.parametrize("key", [k for k in RUNGS if k != "bigram"])
def test_every_rung_of_the_ladder_takes_every_intervention(key):
    torch.manual_seed(0)
    model = build_rung(RUNGS[key], 65).eval()
    config = model.config
    x, y = iv.reference_batch(ids(model, T=300)[0], config.block_size, rows=2)
    means = iv.mean_activations(model, x, iv.heads(model) + iv.layers(model))
    heads = iv.ablate_each(model, x, y, iv.heads(model), "mean", means)
    parts = iv.ablate_each(model, x, y, iv.layers(model), "zero")
    assert heads.grid(config.n_layer, config.n_head).isfinite().all()
    assert len(parts.rise) == config.n_layer * (1 + config.mlp)
    assert induction.measure(model, "zero", rows=2).scores.shape == (config.n_layer, config.n_head)
    idx = ids(model)
    clean, seen = iv.run(model, idx, read=patching.patch_sites(model, "resid"))
    for site, act in seen.items():
        assert torch.equal(iv.run(model, idx, {site: iv.patch_all(act[0])})[0], clean), site


def test_hooks_act_only_on_the_thread_that_made_them():
    """The page's model is cached and shared: another session's pass, on another thread, meanwhile
    runs the model untouched."""
    model = fresh()
    idx = ids(model)
    with torch.no_grad():
        clean = model(idx)[0]
    hooks = iv._Hooks(model)
    hooks.add(Site("attn", 0), iv.zero)
    try:
        other = {}

        def plain_pass():
            with torch.no_grad():  # grad mode is per thread, and picks the attention kernel
                other["logits"] = model(idx)[0]

        thread = threading.Thread(target=plain_pass)
        thread.start()
        thread.join()
        with torch.no_grad():
            mine = model(idx)[0]
    finally:
        hooks.remove()
    assert torch.equal(other["logits"], clean) and not torch.allclose(mine, clean)

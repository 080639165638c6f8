"""Streamlit components of the "inside the trained model" lesson (lessons/5_inside.py): the traced
pass and the page's other results, cached per checkpoint version and prompt; the architecture
explorer, the MLP, final-softmax and dropout panels. The computations are `course.inside`'s, the
figures `course.figures.inside`'s."""

import streamlit as st

from course import inside, inside_views
from course.figures import block_parts
from course.figures import inside as figures
from lessons import ui

# Results are cached per checkpoint version (`ui.Picked.key`): the model itself is never hashed.
BY_KEY = {ui.Picked: lambda picked: picked.key}


@st.cache_resource(show_spinner="Tracing the forward pass…", max_entries=16, hash_funcs=BY_KEY)
def traced(picked: ui.Picked, prompt: str) -> inside.Traced:
    return inside.trace_prompt(picked.checkpoint.model, picked.checkpoint.tokenizer, prompt)


def unsupported(picked: ui.Picked) -> str | None:
    """Why this lesson cannot trace the model (None when it can): it follows the lecture's pre-norm
    block, whose stages (ln_1, then attention, then the add) a post-norm block has in another order."""
    if picked.checkpoint.config.norm_position == "post":
        return (
            f"**{picked.name}** is a post-norm model (LayerNorm after each residual add, as in the 2017 "
            "paper). This lesson traces the lecture's pre-norm block stage by stage; choose a pre-norm model."
        )
    return None


@st.cache_resource(show_spinner=False, max_entries=4, hash_funcs=BY_KEY)
def embedding_figures(picked: ui.Picked):
    """The character embeddings' map (None for a model over other tokens) and the position
    embeddings' similarity (None without them)."""
    model, tokenizer = picked.checkpoint.model, picked.checkpoint.tokenizer
    sim = inside_views.position_similarity(model)
    chars = tokenizer.chars if tokenizer.kind == "char" else None
    em = None if chars is None else figures.embedding_figure(inside_views.embedding_map(model, chars))
    return em, None if sim is None else figures.similarity_figure(sim)


@st.cache_resource(show_spinner="Copying the model for train mode…", max_entries=4, hash_funcs=BY_KEY)
def train_twin(picked: ui.Picked, p: float):
    return inside.dropout_twin(picked.checkpoint.model, p)


@st.cache_resource(show_spinner=False, max_entries=16, hash_funcs=BY_KEY)
def dropout_pass(picked: ui.Picked, ids: tuple, p: float, seed: int) -> inside.Trace:
    return inside.trace_seeded(train_twin(picked, p), ids, seed)


def architecture(t: inside.Trace, labels, config) -> None:
    """The diagram, a stage chooser, and the chosen stage's tensor."""
    left, mid, right = st.columns([2, 1.3, 3.5])
    stage = mid.radio(
        "Stage", inside_views.stages_of(t), format_func=inside_views.STAGES.get, key="inside_stage"
    )
    in_block = stage in inside_views.BLOCK_STAGES
    layer = mid.selectbox("Block", range(config.n_layer), key="inside_stage_layer") if in_block else 0
    left.graphviz_chart(figures.architecture_dot(config, stage, layer))
    x = inside_views.stage_tensor(t, stage, layer)
    title = f"{inside_views.STAGES[stage]}{f' in block {layer}' * in_block}: shape {tuple(x.shape)}"
    with right:
        ui.plot(figures.tensor_figure(x, labels, None, title, height=520), "inside_fig_stage")


def mlp(layer: inside.LayerTrace, pos: int, activation: str) -> None:
    """How many of the MLP's hidden units fire at `pos`, and their histogram."""
    if layer.hidden is None:
        st.info("This model has no feed-forward network (its MLP is switched off).")
        return
    fire = f"{int((layer.hidden[pos] > 0).sum())} of {layer.hidden.size(1)}"
    ui.metrics([("MLP units firing (> 0)", fire), ("spread after ln_2", f"{layer.ln_2[pos].std():.2f}")])
    ui.plot(figures.hidden_figure(layer.hidden[pos], activation), "inside_fig_hidden")


def final_softmax(t: inside.Trace, itos, labels, pos: int) -> None:
    """The temperature slider and the ten likeliest next characters after `pos`."""
    left, right = st.columns([1, 2])
    temperature = left.slider("Temperature", 0.1, 3.0, 1.0, 0.1, key="inside_temperature")
    left.caption(
        "The logits are divided by the temperature before softmax: below 1 sharpens, above 1 flattens."
    )
    rows = inside_views.top_next(t.logits[pos], itos, 10, temperature)
    with right:
        ui.plot(
            figures.top_figure(rows, f"After {labels[pos]}: the likeliest next characters"), "inside_fig_top"
        )


def dropout(picked: ui.Picked, t: inside.Trace, labels, pos: int, layer: int, head: int) -> None:
    """The same input in eval mode (the trace) and in train mode, side by side: the embeddings, then
    inside block `layer` one head's attention weights and the feed-forward's output."""
    c1, c2 = st.columns(2)
    default = picked.checkpoint.config.dropout or 0.1  # a model trained without dropout still shows it
    p = c1.slider("Dropout p in train mode", 0.0, 0.5, default, 0.05, key="inside_dropout")
    seed = c2.number_input("Seed (which numbers are dropped)", 0, 10_000, 0, key="inside_dropout_seed")
    train = dropout_pass(picked, t.ids, p, int(seed))
    for col, mode, run in zip(st.columns(2), ("eval", "train"), (t, train), strict=True):
        with col:
            st.markdown(f"**`model.{mode}()`**: {float((run.x0 == 0).float().mean()):.1%} of x is 0")
            ui.plot(figures.dropout_figure(run.x0, labels, pos), f"inside_fig_{mode}")
            rows = inside_views.top_next(run.logits[pos], picked.checkpoint.tokenizer.itos)
            ui.plot(figures.top_figure(rows, f"{mode}: after {labels[pos]}", 260), f"inside_fig_top_{mode}")
    st.markdown(
        f"**Inside block {layer}.** Dropout acts three more times in every block: on attention's weights "
        "right after the softmax, after attention's projection `c_proj`, and after the feed-forward."
    )
    left, right = st.columns(2)
    weights = t.layers[layer].weights[head, pos, : pos + 1]  # (keys,): this query's row, eval mode
    dropped = inside.dropped_weights(weights, p, int(seed))
    with left:
        ui.plot(block_parts.dropped_weights_figure(weights, dropped, labels, p), "inside_fig_att_dropout")
        st.caption(
            f"Head {head}'s weights for {labels[pos]} from the eval pass, through the library's `dropout` as "
            f"`explicit_attention` applies it in training: they now sum to {float(dropped.sum()):.2f}, not 1."
        )
    out = train.layers[layer].mlp_out
    with right:
        if out is None:
            st.info("This model has no feed-forward network (its MLP is switched off).")
            return
        share = float((out == 0).float().mean())
        st.markdown(f"After the feed-forward, `model.train()`: {share:.1%} of its output is 0")
        title = "The feed-forward's output after dropout (black: zeroed)"
        ui.plot(figures.dropout_figure(out, labels, pos, title=title), "inside_fig_mlp_dropout")

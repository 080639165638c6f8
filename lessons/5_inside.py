"""Lesson 5: inside the trained model — its embeddings, one forward pass stage by stage, the logit
lens and dropout. Every number comes from one traced pass of the real model (`course.inside`)."""

import streamlit as st

from course import inside
from course.figures import inside as figures
from lessons import ui
from tinygpt import gpt
from tinygpt.checkpoint import Checkpoint
from tinygpt.sample import next_token_probs

PAGE = "lessons/5_inside.py"
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks? It is "  # 64 characters
BY_ID = dict(max_entries=16, hash_funcs={Checkpoint: id})  # results hold the checkpoint: its id stays its own


@st.cache_resource(show_spinner="Tracing the forward pass…", **BY_ID)
def traced(ckpt: Checkpoint, prompt: str):
    return ckpt, inside.trace_prompt(ckpt.model, ckpt.tokenizer, prompt)


@st.cache_resource(show_spinner=False, **BY_ID)
def embedding_figures(ckpt: Checkpoint):
    sim = inside.position_similarity(ckpt.model)
    em = figures.embedding_figure(inside.embedding_map(ckpt.model, ckpt.tokenizer.chars))
    return ckpt, em, None if sim is None else figures.similarity_figure(sim)


@st.cache_resource(show_spinner="Copying the model for train mode…", **BY_ID)
def train_twin(ckpt: Checkpoint, p: float):
    return ckpt, inside.dropout_twin(ckpt.model, p)


@st.cache_resource(show_spinner=False, **BY_ID)
def dropout_pass(ckpt: Checkpoint, ids: tuple, p: float, seed: int):
    return ckpt, inside.trace_seeded(train_twin(ckpt, p)[1], ids, seed)


def show_architecture(t: inside.Trace, labels, config) -> None:
    left, mid, right = st.columns([2, 1.3, 3.5])
    stage = mid.radio("Stage", inside.stages_of(t), format_func=inside.STAGES.get, key="inside_stage")
    in_block = stage in inside.BLOCK_STAGES
    layer = mid.selectbox("Block", range(config.n_layer), key="inside_stage_layer") if in_block else 0
    left.graphviz_chart(figures.architecture_dot(config, stage, layer))
    x = inside.stage_tensor(t, stage, layer)
    title = f"{inside.STAGES[stage]}{f' in block {layer}' * in_block}: shape {tuple(x.shape)}"
    with right:
        ui.plot(figures.tensor_figure(x, labels, None, title, height=520), "inside_fig_stage")


def show_mlp(layer: inside.LayerTrace, pos: int, activation: str) -> None:
    if layer.hidden is None:
        st.info("This model has no feed-forward network (its MLP is switched off).")
        return
    fire = f"{int((layer.hidden[pos] > 0).sum())} of {layer.hidden.size(1)}"
    ui.metrics([("MLP units firing (> 0)", fire), ("spread after ln_2", f"{layer.ln_2[pos].std():.2f}")])
    ui.plot(figures.hidden_figure(layer.hidden[pos], activation), "inside_fig_hidden")


def show_dropout(ckpt: Checkpoint, t: inside.Trace, labels, pos: int) -> None:
    c1, c2 = st.columns(2)
    p = c1.slider("Dropout p in train mode", 0.0, 0.5, ckpt.config.dropout or 0.1, 0.05, key="inside_dropout")
    seed = c2.number_input("Seed (which numbers are dropped)", 0, 10_000, 0, key="inside_dropout_seed")
    _, train = dropout_pass(ckpt, t.ids, p, int(seed))
    for col, mode, run in zip(st.columns(2), ("eval", "train"), (t, train), strict=True):
        with col:
            st.markdown(f"**`model.{mode}()`**: {float((run.x0 == 0).float().mean()):.1%} of x is 0")
            ui.plot(figures.dropout_figure(run.x0, labels, pos), f"inside_fig_{mode}")
            rows = inside.top_next(run.logits[pos], ckpt.tokenizer.itos)
            ui.plot(figures.top_figure(rows, f"{mode}: after {labels[pos]}", 260), f"inside_fig_top_{mode}")


ui.header(
    PAGE,
    "A trained GPT is a stack of plain tensor operations. Run the model **once** on a prompt and open that "
    "forward pass: what the embeddings learned, what each stage hands to the next, and how the prediction "
    "forms layer by layer. Hooks on the real modules record every number; the code shown is the code that ran.",
)
picked = ui.pick_checkpoint("inside_checkpoint", model_type="gpt", upload=True)
if picked is None:
    st.stop()
name, ckpt = picked
if ckpt.model_type != "gpt":
    st.error(f"**{name}** is a bigram model: it has no layers to look inside. Choose a Transformer.")
    st.stop()
config, itos = ckpt.config, ckpt.tokenizer.itos
prompt = st.text_area("Prompt", PROMPT, height=80, key="inside_prompt", help="Read in one forward pass.")
_, tr = traced(ckpt, prompt)
t, labels, T = tr.trace, tr.labels, len(tr.trace.ids)
for note in tr.notes:
    st.warning(note, icon=":material/info:")

st.header("1 · What the embeddings learned")
_, em, sim = embedding_figures(ckpt)
left, right = st.columns(2)
with left:
    ui.plot(em, "inside_fig_embed")
    st.caption("Characters that behave alike end up close: vowels, capitals, punctuation.")
with right:
    if sim is None:
        st.info("This model has no position embeddings: only attention's mask tells positions apart.")
    else:
        ui.plot(sim, "inside_fig_positions")
        st.caption("Each position's vector against every other: neighbours learned similar ones.")
ui.show_source(gpt.GPT.embed)

st.header("2 · The architecture, one tensor per stage")
st.markdown("Choose a stage: the diagram marks where it sits, the heatmap shows its tensor.")
show_architecture(t, labels, config)
ui.show_source(gpt.GPT.forward, gpt.Block.forward)

st.header("3 · One position, stage by stage")
c1, c2, c3 = st.columns([3, 1, 1])
pos = c1.select_slider("Position", range(T), T - 1, format_func=labels.__getitem__, key="inside_position")
layer = c2.selectbox("Block", range(config.n_layer), key="inside_layer")
head = c3.selectbox("Head", range(config.n_head), key="inside_head")
L = t.layers[layer]
st.subheader("LayerNorm: each token rescaled to mean 0, spread 1, then a learned weight per channel")
ui.plot(figures.layernorm_figure(L.resid_in, L.ln_1, labels, pos), "inside_fig_ln")
st.subheader(f"Attention, head {head}: q·k → mask → softmax, then the heads' outputs and their projection")
ui.plot(figures.attention_figure(L, head, pos, labels), "inside_fig_att")
ui.plot(figures.heads_figure(L, pos, config.n_head), "inside_fig_heads")
ui.show_source(gpt.CausalSelfAttention.forward, gpt.attention_scores, gpt.mask_future, gpt.explicit_attention)
st.subheader("The residual stream: each block adds to it")
ui.plot(figures.stream_figure(t, labels, pos), "inside_fig_stream")
st.subheader("Second LayerNorm and the MLP: how many hidden units fire")
show_mlp(L, pos, config.activation)
ui.show_source(gpt.MLP.forward)
st.subheader("Final LayerNorm → logits → softmax")
left, right = st.columns([1, 2])
temperature = left.slider("Temperature", 0.1, 3.0, 1.0, 0.1, key="inside_temperature")
left.caption("The logits are divided by the temperature before softmax: below 1 sharpens, above 1 flattens.")
rows = inside.top_next(t.logits[pos], itos, 10, temperature)
with right:
    ui.plot(figures.top_figure(rows, f"After {labels[pos]}: the likeliest next characters"), "inside_fig_top")
ui.show_source(next_token_probs)

st.header("4 · The logit lens: the guess forming with depth")
st.markdown("Each block's output, read through `ln_f` and `lm_head` as if it were the last block.")
lens = inside.lens_table(t, itos)
ui.plot(figures.lens_figure(lens, labels), "inside_fig_lens")
st.caption(lens.summary)
ui.show_source(inside.logit_lens)

st.header("5 · Dropout: train mode against eval mode")
st.markdown("Training zeroes a random share *p* of x and scales the rest by 1/(1−p); `eval()` stops it.")
show_dropout(ckpt, t, labels, pos)
ui.show_source(inside.dropout_twin)
ui.next_lesson(PAGE)

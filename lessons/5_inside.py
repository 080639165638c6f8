"""Lesson 5: inside the trained model — its embeddings, one forward pass stage by stage, the logit
lens and dropout. Every number comes from one traced pass of the real model (`course.inside`);
the components are in `lessons/inside_ui.py`."""

import streamlit as st

from course import inside, inside_views, norms
from course.figures import block_parts
from course.figures import inside as figures
from lessons import inside_ui, ui
from tinygpt import gpt
from tinygpt.sample import next_token_probs

PAGE = "lessons/5_inside.py"
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks? It is "  # 64 characters

ui.header(
    PAGE,
    "A trained GPT is a stack of plain tensor operations. Run the model **once** on a prompt and open that "
    "forward pass: what the embeddings learned, what each stage hands to the next, and how the prediction "
    "forms layer by layer. Hooks on the real modules record every number; the code shown is the code that ran.",
)
picked = ui.pick_checkpoint("inside_checkpoint", model_type="gpt", upload=True)
if picked is None:
    st.stop()
if picked.checkpoint.model_type != "gpt":
    st.error(f"**{picked.name}** is a bigram model: it has no layers to look inside. Choose a Transformer.")
    st.stop()
if reason := inside_ui.unsupported(picked):
    st.info(reason, icon=":material/info:")
    st.stop()
config, itos = picked.checkpoint.config, picked.checkpoint.tokenizer.itos
prompt = st.text_area("Prompt", PROMPT, height=80, key="inside_prompt", help="Read in one forward pass.")
tr = inside_ui.traced(picked, prompt)
t, labels, T = tr.trace, tr.labels, len(tr.trace.ids)
for note in tr.notes:
    st.warning(note, icon=":material/info:")

st.header("1 · What the embeddings learned")
st.markdown(
    "`wte` gives each character a vector of "
    f"{config.n_embd} numbers, learned like every other weight. Projected on the two directions where "
    "they differ most (PCA), characters that play the same part in the text end up near each other."
)
em, sim = inside_ui.embedding_figures(picked)
left, right = st.columns(2)
with left:
    if em is None:
        st.info(
            f"This model reads {picked.checkpoint.tokenizer.kind} tokens, not characters: the map is drawn for character models."
        )
    else:
        ui.plot(em, "inside_fig_embed")
with right:
    if sim is None:
        st.info("This model has no position embeddings: only attention's mask tells positions apart.")
    else:
        ui.plot(sim, "inside_fig_positions")
        st.caption(
            "`wpe`: each position's vector against every other. In this model neighbouring positions ended "
            "up with similar vectors: something it learned, not a rule."
        )
ui.show_source(gpt.GPT.embed)

st.header("2 · The architecture, one tensor per stage")
st.markdown(
    "Choose a stage: the diagram marks where it sits in the model, and the heatmap shows the tensor it "
    "produced for your prompt, one row per position. Every block has the same stages."
)
inside_ui.architecture(t, labels, config)
ui.show_source(gpt.GPT.forward, gpt.Block.forward)

st.header("3 · One position, stage by stage")
st.markdown(
    "Follow one position through a block. The last position is the one whose output predicts the "
    "character after your prompt."
)
c1, c2, c3 = st.columns([3, 1, 1])
pos = c1.select_slider("Position", range(T), T - 1, format_func=labels.__getitem__, key="inside_position")
layer = c2.selectbox("Block", range(config.n_layer), key="inside_layer")
head = c3.selectbox("Head", range(config.n_head), key="inside_head")
L = t.layers[layer]

st.subheader("LayerNorm: each token rescaled to mean 0, spread 1, then a learned weight per channel")
ui.plot(figures.layernorm_figure(L.resid_in, L.ln_1, labels, pos), "inside_fig_ln")
if config.norm == "rmsnorm":
    st.caption(
        "This model uses **RMSNorm**: it divides each token by its root mean square and subtracts no mean, "
        "so its means after the norm are not 0."
    )
st.markdown(
    "The lecture writes it by hand from makemore's BatchNorm: the same arithmetic over the other axis. "
    "BatchNorm normalises each **column**, one channel across the batch, so a token's result depends on the "
    "others; LayerNorm normalises each **row**, one token on its own. Both, on this block's input:"
)
ui.plot(block_parts.rows_vs_columns_figure(L.resid_in, labels), "inside_fig_norms")
ui.show_source(norms.layer_norm, label="Show the code: LayerNorm by hand (it gives `nn.LayerNorm`'s numbers)")

st.subheader(f"Attention, head {head}: q·k → mask → softmax")
st.markdown(
    "The query of the chosen position meets every key. Keys in its future are masked to −∞, so softmax "
    "gives them weight 0; the weights then mix the values. The heads' outputs sit side by side, and the "
    "projection `c_proj` mixes them back into the residual stream."
)
ui.plot(figures.attention_figure(L, head, pos, labels), "inside_fig_att")
ui.plot(figures.heads_figure(L, pos, config.n_head), "inside_fig_heads")
ui.show_source(
    gpt.CausalSelfAttention.forward,
    gpt.attention_scores,
    gpt.mask_future,
    gpt.explicit_attention,
    gpt.sliced_attention,
)

st.subheader("The residual stream: each block adds to it")
ui.plot(figures.stream_figure(t, labels, pos), "inside_fig_stream")
st.caption(
    "`x = x + attn(ln_1(x))`, then `x = x + mlp(ln_2(x))`: no stage replaces the stream, each adds its "
    "part. Adding can also shorten a vector; in this model the stream's length happens to grow block by block."
)

st.subheader("Second LayerNorm and the MLP: how many hidden units fire")
inside_ui.mlp(L, pos, config.activation)
ui.show_source(gpt.MLP.forward)

st.subheader("Final LayerNorm → logits → softmax")
inside_ui.final_softmax(t, itos, labels, pos)
ui.show_source(next_token_probs)

st.header("4 · The logit lens: the guess forming with depth")
st.markdown(
    "Read the residual stream after each block as if it were the last one: final LayerNorm, then the LM "
    "head. Each cell is that layer's likeliest next character; the bottom row is exactly the model's output."
)
lens = inside_views.lens_table(t, itos)
ui.plot(figures.lens_figure(lens, labels), "inside_fig_lens")
st.caption(lens.summary)
ui.show_source(inside.logit_lens)

st.header("5 · Dropout: train mode against eval mode")
st.markdown(
    "In training, dropout zeroes a random share *p* of the numbers and scales the rest by 1/(1−p), so the "
    "model cannot lean on any single unit. `model.eval()` turns it off: the same input, the same output."
)
inside_ui.dropout(picked, t, labels, pos, layer, head)
ui.show_source(gpt.dropout, gpt.Dropout, inside.dropout_twin)
ui.next_lesson(PAGE)

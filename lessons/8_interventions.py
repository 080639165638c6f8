"""Lesson 8: which part does what — switch heads, attention layers and MLPs off (ablation), copy one
prompt's activations into another's run (activation patching), and look for induction heads, live on
the shipped or the learner's GPT. Every number comes from hooks on the real modules
(`course.interventions`, `course.induction`); the components are in `lessons/interventions_ui.py`."""

import math

import streamlit as st

from course import induction, interventions_views, patching
from course import interventions as iv
from course.figures import interventions as figures
from lessons import inside_ui, ui
from lessons import interventions_ui as iui

PAGE = "lessons/8_interventions.py"
PROMPT = "ROMEO:\nBut soft, what light through yonder window breaks? It is "
# Equally long and one character apart, so that each position means the same in both runs.
CLEAN, CORRUPT = "MERCUTIO:\nA plague o' both your hou", "MERCUTIO:\nA plague o' both your mou"
MODES = {"mean": "its mean activation", "zero": "zeros"}

ui.header(
    PAGE,
    "The lecture ends with lesson 7; this lesson goes past it. Lesson 5 opened one forward pass. Here you "
    "**intervene** in it, as interpretability research does: "
    "switch a part off and see what breaks, copy one prompt's activation into another prompt's run and see "
    "where a difference is carried, and look for heads that complete a repeated sequence. Each intervention "
    "is a hook on the model's own modules; without one, the run is the model's own, bit for bit.",
)
picked = ui.pick_checkpoint("interventions_checkpoint", model_type="gpt", upload=True)
if picked is None:
    st.stop()
if picked.checkpoint.model_type != "gpt":
    st.error(
        f"**{picked.name}** is a bigram model: it has no heads or layers to switch off. Choose a Transformer."
    )
    st.stop()
config, itos = picked.checkpoint.config, picked.checkpoint.tokenizer.itos
text_name, text = ui.current_text()
if text is None:
    st.stop()
ref = iui.reference(picked, text)
if isinstance(ref, str):
    st.error(f"No validation text to measure on: {ref}.", icon=":material/error:")
    st.stop()
st.header("1 · Switch one head off: the head map")
mode = st.radio(
    "Switch a part off by replacing its output with",
    list(MODES),
    format_func=MODES.get,
    horizontal=True,
    key="interventions_mode",
    help="Mean ablation keeps the part's average contribution and removes only what depends on the "
    "input; zero ablation removes everything, the average too.",
)
heads = iui.head_ablations(picked, ref, mode)
st.markdown(
    f"Each cell: the loss on {heads.tokens:,} characters of the validation text of **{text_name}** "
    f"(the last tenth, {ref.x.size(0)} windows of {ref.x.size(1)}) with that one head's output replaced by "
    f"{MODES[mode]}, minus the loss of the whole model. The heads' outputs are caught just before `c_proj` "
    "mixes them."
)
if ref.unknown:
    st.caption(
        f"{ref.unknown} distinct characters of this text are not in the model's vocabulary: it reads a "
        "stand-in for each."
    )
site = iui.head_choice(heads, config.n_layer, config.n_head)
iui.head_map(heads, config.n_layer, config.n_head, site)
st.markdown(interventions_views.heads_sentence(heads, config.n_layer * config.n_head))
parts = iui.part_ablations(picked, ref, mode)
ui.plot(figures.parts_figure(parts, config.n_layer), "interventions_fig_parts")
st.markdown(interventions_views.parts_sentence(parts, heads))
if not config.mlp:
    st.info("This model has no MLPs (its feed-forward networks are switched off): only attention can go.")

st.subheader(f"What {site} does on a prompt")
prompt = st.text_area("Prompt", PROMPT, height=80, key="interventions_prompt")
tr = inside_ui.traced(picked, prompt)
for note in tr.notes:
    st.warning(note, icon=":material/info:")
clean, ablated = tr.trace.logits[-1], iui.without(picked, ref, tr.trace.ids, site, mode)
left, right = st.columns(2)
with left:
    weights = tr.trace.layers[site.layer].weights[site.head]
    ui.plot(
        figures.attention_figure(weights, tr.labels, f"{site}: where each position looks"),
        "interventions_fig_att",
    )
with right:
    rows = interventions_views.next_rows(clean, ablated, itos)
    ui.plot(
        figures.next_figure(rows, site, f"After {tr.labels[-1]}: the next character"),
        "interventions_fig_next",
    )
    st.markdown(interventions_views.loss_sentence(clean, ablated, itos, site))
ui.show_source(iv.run, iv.ablation)

st.header("2 · Activation patching: where a difference is carried")
st.markdown(
    "Two prompts of the same length, so that each position means the same in both (the defaults differ in "
    "one character: *h* → *m*, three before the end). Run the **corrupt** one, but copy one "
    "activation of the **clean** run into it — the residual stream at one position after one block, say — "
    "and measure how much of the clean prompt's next-character probability comes back. Each cell is one such "
    "run: 0% means that activation carries none of the difference, 100% all of it."
)
c1, c2, c3 = st.columns([2, 2, 1])
clean_prompt = c1.text_area("Clean prompt", CLEAN, height=80, key="interventions_clean")
corrupt_prompt = c2.text_area(
    "Corrupt prompt (the same length)", CORRUPT, height=80, key="interventions_corrupt"
)
stages = [s for s in ("resid", "attn", "mlp") if s != "mlp" or config.mlp]
stage = c3.radio("Patch", stages, format_func=iv.STAGES.get, key="interventions_stage")
iui.patch_section(picked, clean_prompt, corrupt_prompt, stage)
ui.show_source(patching.patch_map, iv.patch)

st.header("3 · Induction heads: copying what came before")
ind = iui.induction_heads(picked, ref)
if isinstance(ind, str):
    st.info(ind, icon=":material/info:")
    ui.next_lesson(PAGE)
    st.stop()
st.markdown(
    f"Feed the model {ind.rows} strings of {ind.half} random characters, each written twice. Nothing predicts the "
    "first copy; in the second, a model can copy: at each character, look back at the same character in the "
    "first copy and predict the one that followed it. A head that does this attends from each position of the "
    "second copy to the position after its earlier copy — an **induction head**. Its score is that attention, "
    "averaged."
)
ui.plot(figures.induction_figure(ind, ind.cutoff), "interventions_fig_induction")
ui.metrics(
    [
        ("loss on the first copy", f"{ind.loss_first:.2f}"),
        ("loss on the second copy", f"{ind.loss_second:.2f}"),
        ("guessing at random", f"{math.log(config.vocab_size):.2f}"),
    ]
)
st.markdown(induction.verdict(ind, config.vocab_size))
head = ind.key_head()
why = "its best induction head" if ind.heads() else "the head whose absence costs the second copy most"
st.markdown(
    f"**A repeated name.** The same test on text: a name the model never read, written twice, read with and "
    f"without {head}, {why} (replaced by its mean activation)."
)
iui.copying(picked, ref, ind)
ui.show_source(induction.induction_scores, induction.copy_loss)
ui.next_lesson(PAGE)

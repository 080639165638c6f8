"""Lesson 4: sample text from a trained checkpoint, compare the bigram with the Transformer, and
step through sampling one character at a time. Computation lives in `tinygpt.generation`."""

from dataclasses import replace
from itertools import chain
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from course import generation as gen
from course.text import char_label, visible
from lessons.ui import (
    LESSONS,
    SHIPPED_DIR,
    cached_checkpoint,
    checkpoint_choices,
    checkpoint_label,
    next_lesson,
    show_source,
)
from tinygpt.checkpoint import CheckpointError, load_checkpoint
from tinygpt.gpt import GPT, KVCache
from tinygpt.sample import SampleConfig, generate, next_token_probs, window_start

UPLOAD, N_STEPS, TOP_K = "upload", 12, ["off", 1, 2, 3, 5, 10, 20, 40]
ORANGE, PALE, GREY, INK = "#c2410c", "#f2b48c", "#d9d2c5", "#8a8173"
TRAIN_PAGE, TRAIN_TITLE, TRAIN_ICON = LESSONS[3]
HELP = {
    "T": "Logits are divided by the temperature: below 1 sharpens the distribution, above 1 flattens it.",
    "k": "Keep only the k likeliest characters, then renormalise.",
    "cache": "Keep every layer's keys and values, so each new character computes one position, not all.",
    "prompt": "The model continues this text. Leave it empty to start from a newline.",
}

st.title("4 · Generate")
st.markdown(
    "A trained model answers one question only: *which character comes next?* To write, we ask it again "
    "and again: **sample** one character from its answer, append it, repeat. Temperature and top-k "
    "reshape the answer before we draw from it; the seed makes the draws repeatable."
)

# ---- pick a checkpoint: shipped ones first, then the learner's runs (newest first), or an upload ----
choices = sorted(checkpoint_choices(), key=lambda c: c[0].parent.resolve() != SHIPPED_DIR.resolve())
paths = {str(path): path for path, _ in choices}
if not choices:
    st.info("No trained checkpoint yet. Train one in a minute in the training lesson, or upload a file.")
    st.page_link(TRAIN_PAGE, label=f"Go to {TRAIN_TITLE}", icon=TRAIN_ICON)
labels = {str(path): checkpoint_label(path, meta) for path, meta in choices} | {UPLOAD: "Upload a file…"}
first_gpt = next((i for i, (_, meta) in enumerate(choices) if meta["model_type"] == "gpt"), 0)
picked = st.selectbox(
    "Checkpoint", list(labels), first_gpt, format_func=labels.get, key="generate_checkpoint"
)


def uploaded_checkpoint():
    """The uploaded file as a checkpoint (checked once per upload), or None with the reason shown."""
    upload = st.file_uploader("A TinyGPT checkpoint (.safetensors, up to 25 MB)", key="generate_upload")
    if upload is None:
        st.caption("Made by the training lesson or by `python -m tinygpt train --out run.safetensors`.")
        return None
    if st.session_state.get("generate_uploaded", (None,))[0] != upload.file_id:
        try:
            with st.spinner("Checking the file…"):
                loaded = load_checkpoint(upload.getvalue())
        except CheckpointError as e:
            loaded = str(e)
        st.session_state["generate_uploaded"] = (upload.file_id, loaded)
    loaded = st.session_state["generate_uploaded"][1]
    if isinstance(loaded, str):
        st.error(f"**{upload.name}** cannot be used: {loaded}.", icon=":material/error:")
        return None
    return loaded


def load(path):
    """A listed checkpoint, or None with the reason shown (the file may have changed since listing)."""
    try:
        return cached_checkpoint(str(path), path.stat().st_mtime)
    except (CheckpointError, OSError) as e:
        st.error(f"{path.name} cannot be loaded: {e}", icon=":material/error:")
        return None


ckpt = uploaded_checkpoint() if picked == UPLOAD else load(paths[picked])
if ckpt is None:
    st.stop()
name = Path(st.session_state["generate_upload"].name if picked == UPLOAD else picked).stem
model, tok = ckpt.model, ckpt.tokenizer

# ---- the model card ----------------------------------------------------------------------------
card = gen.model_card(ckpt)
with st.container(border=True):
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.markdown(f"**{name}** &nbsp; {gen.describe_config(card)}")
    for col, (label, value) in zip(left.columns(4), gen.card_metrics(card), strict=True):
        col.metric(label, value)
    left.caption(gen.card_caption(card))
    if card.history:
        colors = {"train_loss": INK, "val_loss": ORANGE}
        fig = px.line(
            pd.DataFrame(card.history),
            x="step",
            y=list(colors),
            color_discrete_map=colors,
            height=200,
            markers=len(card.history) < 30,
        )
        fig.update_traces(marker_size=5).update_layout(
            title="Loss while training",
            margin=dict(l=0, r=0, t=30, b=0),
            yaxis_title=None,
            legend=dict(title=None, orientation="h", y=1.2, x=1, xanchor="right"),
        )
        right.plotly_chart(fig, key="generate_loss_chart", config={"displayModeBar": False})
    else:
        right.caption("This checkpoint records no loss history.")

# ---- sampling settings (in the sidebar, so they stay next to every chart) ----------------------
with st.sidebar:
    st.subheader("Sampling")
    n_chars = st.slider("Characters to generate", 50, 2000, 500, 50, key="generate_chars")
    temperature = st.slider("Temperature", 0.1, 2.0, 0.8, 0.05, key="generate_temperature", help=HELP["T"])
    top_k = st.select_slider("Top-k", TOP_K, "off", key="generate_top_k", help=HELP["k"])
    seed = int(st.number_input("Seed", 0, 2**31 - 1, 1337, key="generate_seed"))
    use_cache = st.toggle("KV cache", True, key="generate_cache", help=HELP["cache"])
cfg = SampleConfig(n_chars, temperature, None if top_k == "off" else top_k, seed, use_cache)
settings = f"temperature {temperature:g} · top-k {top_k} · seed {seed}"

text = st.text_area("Prompt", "ROMEO:\n", height=80, key="generate_prompt", help=HELP["prompt"])
prompt = gen.read_prompt(tok, text)
if note := gen.unknown_note(prompt, tok):
    st.warning(note, icon=":material/translate:")


def stream_into(box, model, tokenizer, text: str, label: str) -> dict:
    """Stream the prompt and its continuation into `box`; return the text and how fast it came."""
    p = gen.read_prompt(tokenizer, text)
    stream = gen.TimedStream(model, tokenizer, p.ids, cfg)
    with box:
        st.write_stream(map(gen.as_markdown, chain([p.shown], stream)))
    about = f"{label} · {settings} · KV cache {'on' if use_cache else 'off'}"
    return dict(text=p.shown + stream.text, chars=stream.n_chars, cps=stream.chars_per_sec, about=about)


def show(key: str, box, clicked: bool, where=st) -> None:
    """Redraw a stored result (unless it was just streamed) with its speed and settings."""
    if key not in st.session_state:
        return
    result = st.session_state[key]
    if not clicked:
        box.markdown(gen.as_markdown(result["text"]))
    speed = (
        f"{result['chars']:,} characters at **{result['cps']:,.0f} characters/s** (batch 1, one CPU thread)"
    )
    where.caption(f":material/speed: {speed} · {result['about']}")


generate_tab, compare_tab, step_tab = st.tabs(["Generate", "Bigram vs Transformer", "Step through"])
with generate_tab:
    clicked = st.button("Generate", type="primary", icon=":material/play_arrow:", key="generate_go")
    box = st.container(border=True, key="generate_output")
    if clicked:
        st.session_state["generate_result"] = stream_into(box, model, tok, text, name)
    elif "generate_result" not in st.session_state:
        box.caption("Press **Generate**: the text appears as the model samples it, character by character.")
    show("generate_result", box, clicked)

with compare_tab:
    st.markdown(
        "The same prompt, seed and settings for both. The bigram sees one character; the Transformer "
        "attends to everything before it, so it can finish words, line breaks and speaker names."
    )
    kinds = {"bigram": "Bigram", "gpt": "Transformer"}
    options = {kind: [p for p, meta in choices if meta["model_type"] == kind] for kind in kinds}
    if not all(options.values()):
        st.info("This needs a bigram and a Transformer checkpoint: train the missing one in lesson 3.")
        st.page_link(TRAIN_PAGE, label=f"Go to {TRAIN_TITLE}", icon=TRAIN_ICON)
    else:
        picks = {}
        for (kind, title), col in zip(kinds.items(), st.columns(2), strict=True):
            picks[kind] = col.selectbox(
                title, options[kind], format_func=lambda p: labels[str(p)], key=f"generate_vs_{kind}"
            )
        clicked = st.button("Continue with both", icon=":material/compare_arrows:", key="generate_vs_go")
        for (kind, path), col in zip(picks.items(), st.columns(2), strict=True):
            box, other, key = col.container(border=True), load(path), f"generate_vs_{kind}_result"
            if clicked and other is not None:
                st.session_state[key] = stream_into(box, other.model, other.tokenizer, text, path.stem)
            show(key, box, clicked, col)

with step_tab:
    st.markdown(
        f"The first {N_STEPS} characters that **Generate** writes with these settings, one at a time. "
        "Grey: the model's own probabilities. Orange: what temperature and top-k leave of them, the "
        "distribution the character is really drawn from. Move the sidebar sliders: the bars change, "
        "and sometimes the character drawn with them."
    )
    # recompute only when the model (compared by identity, and kept alive by the memo), prompt or settings change
    memo = (model, tuple(prompt.ids), replace(cfg, max_new_tokens=N_STEPS))
    if st.session_state.get("generate_steps", (None,))[0] != memo:
        st.session_state["generate_steps"] = (memo, gen.step_through(model, prompt.ids, cfg, N_STEPS))
    steps = st.session_state["generate_steps"][1]
    step = steps[st.slider("Character", 1, N_STEPS, 1, key="generate_step") - 1]
    rows = gen.top_candidates(step, tok, 10)
    context = visible(tok.decode(step.context[-60:]))
    st.markdown(f"…`{context}` → **`{char_label(tok.itos[step.token])}`**")
    fig = px.bar(pd.DataFrame(rows), x="label", y=["p_model", "p_shaped"], barmode="group", height=330)
    fig.update_layout(
        margin=dict(l=0, r=0, t=30, b=0),
        xaxis=dict(type="category", title="next character"),
        yaxis=dict(tickformat=".1~%", title="probability"),
        legend=dict(title=None, orientation="h", y=1.12),
    )
    names = {
        "p_model": "the model (temperature 1)",
        "p_shaped": f"drawn from (temperature {temperature:g}, top-k {top_k})",
    }
    fig.for_each_trace(lambda t: t.update(name=names[t.name], marker_color=GREY))
    fig.data[1].marker.color = [ORANGE if r["sampled"] else PALE for r in rows]
    pick = next(r for r in rows if r["sampled"])
    fig.add_annotation(x=pick["label"], y=max(pick["p_model"], pick["p_shaped"]), text="sampled", ay=-28)
    st.plotly_chart(fig, key="generate_step_chart", config={"displayModeBar": False})
    for col, (label, value, versus) in zip(st.columns(3), gen.step_summary(step, tok), strict=True):
        col.metric(label, value, versus, delta_color="off", delta_arrow="off")

st.markdown(
    "**Under the hood.** `generate` is a loop: logits for the last position → divide by the temperature "
    "→ keep the top k → softmax → `torch.multinomial`. Without a cache, every step re-runs the whole "
    "context; the **KV cache** keeps each layer's keys and values, so a step computes only the new "
    "position. Since the GPT learned absolute positions, its window slides in jumps (`window_start`). "
    "With the cache, each step is `GPT.decoder()`: the whole GPT for one character in a few lines, since at "
    "batch 1 the overhead of each PyTorch call matters as much as the arithmetic."
)
show_source(generate, next_token_probs, window_start, KVCache, GPT.decoder)
next_lesson("lessons/6_generate.py")
st.divider()
st.page_link(LESSONS[0][0], label="That was the last lesson: back to the start", icon=":material/home:")

"""Streamlit components of the generation lesson (lessons/6_generate.py): the model card, the
sampling settings, streaming a continuation onto the page, the bigram-vs-Transformer comparison and
the step-through of sampling. The computations are `course.generation`'s, the figures
`course.figures.generate`'s."""

from dataclasses import replace
from itertools import chain

import streamlit as st

from course import generation
from course.figures import generate as figures
from course.text import MODEL_NAMES, char_label, visible
from lessons import ui
from tinygpt.sample import SampleConfig

TOP_K = ["off", 1, 2, 3, 5, 10, 20, 40]
HELP = {
    "T": "Logits are divided by the temperature: below 1 sharpens the distribution, above 1 flattens it. "
    "This page starts at 0.8; the lecture samples at 1.0, the model's own probabilities.",
    "k": "Keep only the k likeliest characters, then renormalise.",
    "cache": "Keep every layer's keys and values, so each new character computes one position, not all.",
}


def model_card(picked: ui.Picked) -> None:
    """What the checkpoint is and how it trained, from its metadata."""
    card = generation.model_card(picked.checkpoint)
    with st.container(border=True):
        left, right = st.columns([3, 2], vertical_alignment="center")
        left.markdown(f"**{picked.name}** &nbsp; {generation.describe_config(card)}")
        ui.metrics(generation.card_metrics(card), left.columns(4))
        left.caption(generation.card_caption(card))
        if card.history:
            with right:
                ui.plot(figures.loss_history_figure(card.history), "generate_loss_chart")
        else:
            right.caption("This checkpoint records no loss history.")


def sampling_settings() -> SampleConfig:
    """The sidebar's sliders as a SampleConfig."""
    with st.sidebar:
        st.subheader("Sampling")
        n_chars = st.slider("Characters to generate", 50, 2000, 500, 50, key="generate_chars")
        temperature = st.slider(
            "Temperature", 0.1, 2.0, 0.8, 0.05, key="generate_temperature", help=HELP["T"]
        )
        top_k = st.select_slider("Top-k", TOP_K, "off", key="generate_top_k", help=HELP["k"])
        seed = int(st.number_input("Seed", 0, 2**31 - 1, 1337, key="generate_seed"))
        use_cache = st.toggle("KV cache", True, key="generate_cache", help=HELP["cache"])
    return SampleConfig(n_chars, temperature, None if top_k == "off" else top_k, seed, use_cache)


def describe(cfg: SampleConfig) -> str:
    return f"temperature {cfg.temperature:g} · top-k {cfg.top_k or 'off'} · seed {cfg.seed}"


def continuation(key: str, ckpt, text: str, cfg: SampleConfig, label: str, clicked: bool, where=st) -> None:
    """A bordered box with the prompt's continuation: streamed when `clicked` (and kept in
    session_state[key]), otherwise the last one redrawn; with its speed and settings below."""
    box = where.container(border=True, key=key.replace("_result", "_output"))
    if clicked:
        prompt = generation.read_prompt(ckpt.tokenizer, text)
        stream = generation.TimedStream(ckpt.model, ckpt.tokenizer, prompt.ids, cfg)
        with box:
            st.write_stream(map(generation.as_markdown, chain([prompt.shown], stream)))
        about = f"{label} · {describe(cfg)} · KV cache {'on' if cfg.use_cache else 'off'}"
        st.session_state[key] = dict(
            text=prompt.shown + stream.text, chars=stream.n_chars, cps=stream.chars_per_sec, about=about
        )
    if key not in st.session_state:
        box.caption("Press the button: the text appears as the model samples it, character by character.")
        return
    result = st.session_state[key]
    if not clicked:
        box.markdown(generation.as_markdown(result["text"]))
    speed = (
        f"{result['chars']:,} characters at **{result['cps']:,.0f} characters/s** (batch 1, one CPU thread)"
    )
    where.caption(f":material/speed: {speed} · {result['about']}")


def compare(text: str, cfg: SampleConfig) -> None:
    """The same prompt, seed and settings through a bigram and a Transformer, side by side."""
    kinds = MODEL_NAMES
    options = {kind: ui.checkpoint_choices(kind) for kind in kinds}
    if not all(options.values()):
        st.info(
            "This needs a bigram and a Transformer checkpoint: train the missing one in the training lesson."
        )
        ui.link(ui.TRAINING)
        return
    picks = {}
    for (kind, title), col in zip(kinds.items(), st.columns(2), strict=True):
        labels = {path: ui.checkpoint_label(path, meta) for path, meta in options[kind]}
        picks[kind] = col.selectbox(title, list(labels), format_func=labels.get, key=f"generate_vs_{kind}")
    clicked = st.button("Continue with both", icon=":material/compare_arrows:", key="generate_vs_go")
    for (kind, path), col in zip(picks.items(), st.columns(2), strict=True):
        ckpt = ui.load_listed(path)
        if ckpt is not None:
            continuation(f"generate_vs_{kind}_result", ckpt, text, cfg, path.stem, clicked, col)


@st.cache_resource(show_spinner="Stepping through sampling…", max_entries=16)
def steps_of(_model, model_key: str, ids: tuple, cfg: SampleConfig, n_steps: int) -> list[generation.Step]:
    return generation.step_through(_model, list(ids), cfg, n_steps)


def step_through(picked: ui.Picked, ids: list[int], cfg: SampleConfig, n_steps: int) -> None:
    """One sampled character at a time: the model's distribution next to the one it was drawn from."""
    tok = picked.checkpoint.tokenizer
    steps = steps_of(
        picked.checkpoint.model, picked.key, tuple(ids), replace(cfg, max_new_tokens=n_steps), n_steps
    )
    step = steps[st.slider("Character", 1, n_steps, 1, key="generate_step") - 1]
    rows = generation.top_candidates(step, tok, 10)
    st.markdown(f"…`{visible(tok.decode(step.context[-60:]))}` → **`{char_label(tok.itos[step.token])}`**")
    ui.plot(figures.step_figure(rows, cfg.temperature, cfg.top_k or "off"), "generate_step_chart")
    for col, (label, value, versus) in zip(st.columns(3), generation.step_summary(step, tok), strict=True):
        col.metric(label, value, versus, delta_color="off", delta_arrow="off")

"""Lesson 6: sample text from a trained checkpoint, compare the bigram with the Transformer, and
step through sampling one character at a time. Computation lives in `course.generation`."""

import streamlit as st

from course import generation
from lessons import generate_ui, ui
from tinygpt.gpt import GPT, KVCache
from tinygpt.sample import generate, next_token_probs, window_start

PAGE, N_STEPS = "lessons/6_generate.py", 12

ui.header(
    PAGE,
    "A trained model answers one question only: *which character comes next?* To write, we ask it again "
    "and again: **sample** one character from its answer, append it, repeat. Temperature and top-k "
    "reshape the answer before we draw from it; the seed makes the draws repeatable.",
)
picked = ui.pick_checkpoint("generate_checkpoint", upload=True)
if picked is None:
    st.stop()
generate_ui.model_card(picked)
cfg = generate_ui.sampling_settings()
text = st.text_area(
    "Prompt",
    "ROMEO:\n",
    height=80,
    key="generate_prompt",
    help="The model continues this text. Leave it empty to start from a newline.",
)
prompt = generation.read_prompt(picked.checkpoint.tokenizer, text)
if note := generation.unknown_note(prompt, picked.checkpoint.tokenizer):
    st.warning(note, icon=":material/translate:")

generate_tab, compare_tab, step_tab = st.tabs(["Generate", "Bigram vs Transformer", "Step through"])
with generate_tab:
    clicked = st.button("Generate", type="primary", icon=":material/play_arrow:", key="generate_go")
    generate_ui.continuation("generate_result", picked.checkpoint, text, cfg, picked.name, clicked)

with compare_tab:
    st.markdown(
        "The same prompt, seed and settings for both. The bigram sees one character; the Transformer "
        "attends to everything before it within its block of context, so it can finish words, line breaks and "
        "speaker names."
    )
    generate_ui.compare(text, cfg)

with step_tab:
    st.markdown(
        f"The first {N_STEPS} characters that **Generate** writes with these settings, one at a time. "
        "Grey: the model's own probabilities. Orange: what temperature and top-k leave of them, the "
        "distribution the character is really drawn from. Move the sidebar sliders: the bars change, "
        "and sometimes the character drawn with them."
    )
    generate_ui.step_through(picked, prompt.ids, cfg, N_STEPS)

st.markdown(
    "**Under the hood.** `generate` is a loop: logits for the last position → divide by the temperature "
    "→ keep the top k → softmax → `torch.multinomial`. Without a cache, every step re-runs the whole "
    "context; the **KV cache** keeps each layer's keys and values, so a step computes only the new "
    "position. The lecture crops the context to the last `block_size` characters at every step; here the "
    "window slides in jumps of half a block (`window_start`), because each cached key was computed with "
    "its position's embedding: moving the window by one would change every position and so every key, and "
    "the cache would have to be rebuilt at every step. The KV cache is this project's addition: the lecture "
    "re-runs the whole context for each character. With the cache, each step runs `GPT.decoder()`: the whole GPT for one character "
    "in a few plain calls per layer, since at batch 1 the overhead of each PyTorch call matters as much "
    "as the arithmetic."
)
ui.show_source(generate, next_token_probs, window_start, KVCache, GPT.decoder)
ui.next_lesson(PAGE)

"""Lesson 7: from TinyGPT to ChatGPT — pre-training vs fine-tuning (a copy of the model fine-tuned live),
scale (our models next to the lecture's and GPT-3, with our GPT class built at any size), decoder-only vs
encoder-decoder, and where to go next. The lecture's closing section."""

import streamlit as st

from course import beyond
from course.figures import beyond as figures
from course.text import compact, duration
from lessons import ui
from tinygpt.checkpoint import list_checkpoints
from tinygpt.gpt import GPT

PAGE = "lessons/7_beyond.py"
TUNED_KEY = "beyond_tuned"  # {"key": (checkpoint, text, steps), "result": FineTuned}, this session's copy


@st.cache_data(show_spinner=False)  # keyed by the folder: the learners' runs change often, these do not
def scale_rows(shipped) -> tuple[list[beyond.Scale], float | None]:
    return beyond.scale_rows(list_checkpoints(shipped))


@st.cache_data(show_spinner="The pre-trained model writes…", max_entries=16)
def pretrained_answer(name: str, _ckpt, question: str) -> str:
    return beyond.answer(_ckpt.model, _ckpt, question)


def fine_tune_panel(name: str, ckpt) -> beyond.FineTuned | None:
    """The data, the steps and the button; this session's fine-tuned copy for these settings, if any."""
    text = st.text_area(
        "Fine-tuning data: question-answer pairs", beyond.qa_text(), height=200, key="beyond_ft_text"
    )
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    steps = c1.slider("fine-tuning steps (batch 8 × 64 characters)", 10, 100, 30, 10, key="beyond_ft_steps")
    key, tuned = (name, text, steps), st.session_state.get(TUNED_KEY)
    if c2.button("Fine-tune a copy", key="beyond_ft_go", type="primary", disabled=len(text) < 2):
        bar = st.progress(0.0, text="Fine-tuning a copy of the model…")
        result = beyond.fine_tune(ckpt, text, steps, lambda f: bar.progress(f, text=f"Fine-tuning: {f:.0%}"))
        tuned = st.session_state[TUNED_KEY] = {"key": key, "result": result}
        bar.empty()
    if tuned is not None and tuned["key"] != key:
        st.info(
            "You changed the data or the steps since the last fine-tuning: fine-tune again to see the effect."
        )
    return tuned["result"] if tuned is not None and tuned["key"] == key else None


ui.header(
    PAGE,
    "You have built, trained and sampled a GPT. ChatGPT is the same kind of model — a decoder-only "
    "Transformer predicting the next token — made different by three things: **what it is trained on**, "
    "**how much**, and **a second stage of training** that turns a document completer into an assistant.",
)
st.header("Pre-training, then fine-tuning")
st.markdown(
    "Everything we trained is **pre-training**: learn to continue text. Ask a pre-trained model a "
    "question and it does not answer — it continues the document, in the style of what it read. OpenAI's "
    "ChatGPT announcement (November 2022) describes three steps after pre-training, the method of its "
    "InstructGPT paper (Ouyang et al., 2022): (1) **supervised fine-tuning** on conversations written by "
    "people; (2) a **reward model**, trained on people's rankings of answers; (3) **reinforcement learning** "
    "(PPO) against that reward model. Step 1 is more of the same `train()`, on different data — try it:"
)
picked = ui.pick_checkpoint("beyond_ckpt", model_type="gpt")
if picked is not None:
    name, ckpt = picked.key, picked.checkpoint  # the key tells file versions apart
    tuned = fine_tune_panel(name, ckpt)
    question = st.text_input("Ask a question", "What is a king?", max_chars=120, key="beyond_question")
    before, after = st.columns(2)
    before.markdown("**Pre-trained** (as shipped)")
    before.code(pretrained_answer(name, ckpt, question), language=None, wrap_lines=True)
    after.markdown("**Fine-tuned copy**")
    if tuned is None:
        after.caption("Press **Fine-tune a copy** to train one (about 10 s for 30 steps on a 2-core CPU).")
    else:
        after.code(beyond.answer(tuned.model, ckpt, question), language=None, wrap_lines=True)
        ui.plot(figures.fine_tune_figure(tuned.losses), "beyond_ft_loss")
        if tuned.unknown:
            st.warning(f"Not in the vocabulary, replaced: {', '.join(map(repr, tuned.unknown))}.")
        st.caption(
            "A few pairs teach the **format** (an answer after `ANSWER:`, then a blank line) within a few "
            "dozen steps — and with so little data, the answers are soon copied from the pairs. InstructGPT, "
            "ChatGPT's predecessor, learned from about 13,000 prompts with written demonstrations, and its "
            "reward model from about 33,000 prompts, each with 4 to 9 answers ranked (Ouyang et al., 2022)."
        )
    ui.show_source(beyond.fine_tune)

st.header("Scale")
rows, rate = scale_rows(ui.SHIPPED_DIR)
st.markdown(
    "Same architecture, different sizes. The **parameters** column counts our own `GPT` class built at each "
    "shape (on PyTorch's *meta* device, so GPT-3's shape needs no memory); *reported* is the authors' figure "
    "(the lecture's model has biases, GPT-3 ties its input and output embeddings)."
)
st.dataframe(figures.scale_frame(rows, rate), hide_index=True)
if rate:
    st.caption(
        f"Compute ≈ 6 × parameters × tokens. The last column divides it by the speed this project's CPU "
        f"reached training the shipped model: {rate / 1e9:.0f} billion FLOP/s."
    )
st.subheader("Build our GPT at any size")
c1, c2, c3, c4 = st.columns(4)
n_layer = c1.slider("n_layer", 1, 96, 12, key="beyond_n_layer")
n_embd = c2.select_slider(
    "n_embd", [64, 128, 256, 384, 768, 1024, 1600, 4096, 12288], 768, key="beyond_n_embd"
)
block = c3.select_slider("block_size", [8, 32, 128, 256, 1024, 2048], 1024, key="beyond_block")
vocab = c4.radio("vocabulary", [65, beyond.GPT2_VOCAB], 1, format_func="{:,}".format, key="beyond_vocab")
params = beyond.gpt_parameters(n_layer, n_embd, block, vocab)
mine = beyond.Scale("your GPT", params, None, n_layer, n_embd, block, vocab, beyond.TOKENS_PER_PARAM * params)
time_to_train = duration(mine.flops / rate) if rate else "–"
ui.metrics(
    [
        ("parameters", compact(params)),
        ("weights (fp32)", f"{params * 4 / 1e9:,.2f} GB"),
        ("training memory (AdamW, fp32)", f"~{params * 16 / 1e9:,.1f} GB"),
        (f"{beyond.TOKENS_PER_PARAM} tokens per parameter, here", time_to_train),
    ]
)
st.caption("12 layers × 768 with GPT-2's vocabulary and context is GPT-2 small (124M with tied embeddings).")
ui.plot(figures.scale_figure(rows, mine), "beyond_scale")
ui.show_source(beyond.gpt_parameters, beyond.parameters_of, GPT.__init__)

st.header("Decoder-only, encoder-decoder")
st.markdown(
    "The Transformer of *Attention Is All You Need* (2017) translated text: an **encoder** read the source "
    "sentence with no mask, and a **decoder** wrote the translation with a causal mask, plus "
    "**cross-attention** to the encoder's output. GPT keeps only the decoder, without cross-attention: "
    "there is nothing to condition on but the text so far."
)
st.markdown(
    """
| family | mask | cross-attention | examples |
|---|---|---|---|
| decoder-only | causal | no | GPT, this course |
| encoder-only | none | no | BERT |
| encoder-decoder | none in the encoder, causal in the decoder | yes: decoder queries, encoder keys and values | the original Transformer, T5 |
"""
)
ui.link("lessons/2_attention.py", "See the mask switched off, and cross-attention, in the attention lesson")

st.header("Where to go next")
st.markdown("The lecture ends by pointing to nanoGPT. Each part of TinyGPT has its counterpart there:")
st.markdown(beyond.NANOGPT_MAP)
st.markdown(
    """
- **nanoGPT** (github.com/karpathy/nanoGPT): this course's model grown up — reproduce GPT-2 (124M) on GPUs.
- **makemore** (github.com/karpathy/makemore) and its videos, which the lecture builds on: the bigram, the
  training loop, BatchNorm (from which the lecture makes LayerNorm).
- **Let's build the GPT Tokenizer** (Karpathy's next video): the byte-pair encoding of lesson 1, in full.
- **Let's reproduce GPT-2 (124M)**: mixed precision, flash attention, many GPUs, the tricks of a real run.
- Papers: [*Attention Is All You Need*](https://arxiv.org/abs/1706.03762) (2017), GPT-3: *Language Models are Few-Shot Learners* (2020),
  InstructGPT: *Training language models to follow instructions with human feedback* (2022).
"""
)
ui.next_lesson(PAGE)

"""The byte-pair encoding section of the tokenizer lesson: merges learned live on the chosen text, a
sentence split into tokens, and the vocabulary size vs sequence length trade-off measured on the text.
lessons/1_dataset.py calls `bpe_section(text)`; the numbers come from `course.subwords`."""

import streamlit as st

from course import subwords
from course.figures import subwords as figures
from lessons import ui
from tinygpt.bpe import BPETokenizer, merge, merge_in_word, train_bpe

SENTENCE = "First Citizen: Before we proceed any further, hear me speak."
SHOWN_MERGES = 50


@st.cache_data(show_spinner="Learning the merges on this text (a couple of seconds)…", max_entries=4)
def training_of(text: str) -> subwords.BPETraining:
    return subwords.train_on(text)


def bpe_section(text: str) -> None:
    st.header("Sub-word tokens: byte-pair encoding")
    st.markdown(
        "GPT-2 and ChatGPT do not read characters. **Byte-pair encoding** (BPE) starts from the 256 "
        "possible byte values (UTF-8 is how the text becomes bytes) and repeatedly **merges the most frequent pair of neighbouring tokens** into a new "
        "token: `t`+`h` → `th`, then `th`+`e` → `the`… Below, the merges are learned on your text, right "
        "now, by the library's `train_bpe`. Like GPT-2, it first splits the text into words, so no token "
        "spans two words."
    )
    training = training_of(text)
    if len(text) > subwords.MAX_CHARS:
        st.caption(f"Learned and measured on the first {subwords.MAX_CHARS:,} characters of the text.")
    if not training.merges:
        st.info("This text is too short to learn a single merge: upload a longer one to try BPE.")
        return
    most = len(training.merges)
    n = st.slider("number of merges", 0, most, min(500, most), key="bpe_merges")
    tok = training.tokenizer(n)
    now = subwords.trade_off(training, n)
    ui.metrics(
        [
            ("BPE vocabulary", f"{now.vocab_size:,} tokens"),
            ("the text, in BPE tokens", f"{now.n_tokens:,}"),
            ("characters per token", f"{now.chars_per_token:.2f}"),
            (f"a {subwords.BLOCK_SIZE}-token context holds", f"~{now.context_chars:,.0f} chars"),
        ]
    )
    show_split(tok)
    left, right = st.columns(2)
    with left:
        ui.plot(figures.length_figure(training, now), "bpe_length")
    with right:
        ui.plot(figures.rarity_figure(training, now), "bpe_rarity")
    st.markdown(
        f"**The trade-off.** Each merge adds one token to the vocabulary and makes the text shorter, so a "
        f"context of the same length sees more of it, and a step of generation writes more at once. But "
        f"every token costs the model an embedding row and an output row (2 × `n_embd` parameters), and "
        f"each new token is rarer than the last: the model sees fewer examples of it. With {n} merges the "
        f"newest token occurs **{now.newest_count or 0:,}** times in the text. GPT-2 stops at 50,257 tokens; "
        f"our character model keeps {training.n_distinct_chars} and lets the Transformer do the rest."
    )
    with st.expander(f"The first {min(n, SHOWN_MERGES)} merges, in the order they were learned"):
        rows = subwords.merge_rows(training, min(n, SHOWN_MERGES))
        st.dataframe(figures.merges_frame(rows), hide_index=True)
    ui.show_source(train_bpe, merge_in_word, merge, BPETokenizer.encode, BPETokenizer.encode_word)


def show_split(tok: BPETokenizer) -> None:
    sentence = st.text_input("Split a sentence into tokens", SENTENCE, max_chars=300, key="bpe_sentence")
    if not sentence:
        st.caption("Type a sentence to see its tokens.")
        return
    pieces = subwords.split_sentence(tok, sentence)
    st.html(figures.tokens_html(pieces))
    ids = [p.id for p in pieces]
    same = tok.decode(ids) == sentence
    st.caption(
        f"{len(sentence)} characters → **{len(pieces)} tokens** `{ids}`. decode(encode(text)) gives back "
        f"the text: **{same}**. A character the text never had (é, ж, 🙂) falls back to its UTF-8 bytes "
        "(shown as \\xNN), so BPE has no unknown characters."
    )

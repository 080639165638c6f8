"""The generation lesson's library: model cards, prompts with unknown characters, the timed text
stream, Markdown-safe text, and stepping through sampling (the same tokens `generate` draws)."""

import copy
import os
import re
import string
import sys
import threading
from dataclasses import replace

import pytest
import torch

from course import generation, priority
from tinygpt import BigramConfig, BigramLM, CharTokenizer, Checkpoint, SampleConfig, generate, load_checkpoint
from tinygpt.device import use_threads
from tinygpt.models import count_parameters


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


# ---- model card ----------------------------------------------------------------------------------


def test_model_card_reads_the_training_summary(ckpt):
    card = generation.model_card(ckpt)
    assert card.model_type == "gpt" and card.parameters == count_parameters(ckpt.model)
    assert card.steps == 30 and card.context_size == 8 and card.vocab_size == ckpt.tokenizer.vocab_size
    assert card.val_loss == pytest.approx(ckpt.summary["val_loss"]) and card.device == "cpu"
    assert [h["step"] for h in card.history] == [30]
    assert set(card.history[0]) == {"step", "train_loss", "val_loss"}
    assert card.saved_at is not None and len(card.saved_at) == 16  # "YYYY-MM-DD HH:MM"
    assert "n_layer 2" in generation.describe_config(card) and "block_size 8" in generation.describe_config(
        card
    )
    metrics = dict(generation.card_metrics(card))
    assert metrics["Parameters"] == f"{card.parameters:,}" and metrics["Training steps"] == "30"
    assert "vocabulary of" in generation.card_caption(card) and generation.card_caption(card)[0].isupper()
    assert "sees up to the last 8 characters (at least 5 once the text is longer)" in generation.card_caption(
        card
    )


def test_model_card_ignores_malformed_metadata():
    """A stranger's file may hold anything in its summary: the card leaves it out, it never crashes."""
    tok = CharTokenizer("ab\n ")
    summary = {
        "steps": "many",
        "val_loss": float("nan"),
        "train_loss": True,
        "device": 3,
        "saved_at": "sometime in the spring",
        "elapsed_seconds": 7200.0,
        "history": [
            {"step": 1},
            "x",
            None,
            {"step": 2, "train_loss": 1.5, "val_loss": "?"},
            {"step": 3, "train_loss": 1.0, "val_loss": 2.0},
        ],
    }
    card = generation.model_card(
        Checkpoint(BigramLM(BigramConfig(4)), "bigram", BigramConfig(4), tok, summary)
    )
    assert (card.steps, card.val_loss, card.device, card.saved_at) == (None,) * 4
    assert card.history == [{"step": 3, "train_loss": 1.0, "val_loss": 2.0}]
    assert dict(generation.card_metrics(card))["Val loss"] == "—"
    assert (
        "2 h 00 min" in generation.card_caption(card)
        and "date unknown" in generation.card_caption(card).lower()
    )
    assert generation.describe_config(card).startswith("bigram: one 4 × 4 lookup table")
    no_summary = Checkpoint(BigramLM(BigramConfig(4)), "bigram", BigramConfig(4), tok, None)
    assert generation.model_card(no_summary).history == []


# ---- prompts -------------------------------------------------------------------------------------


def test_unknown_prompt_characters_are_replaced_never_raised(ckpt):
    tok = ckpt.tokenizer
    prompt = generation.read_prompt(tok, "ROMEO: ¿Qué? 😀")
    assert prompt.unknown == ["¿", "é", "😀"]
    assert len(prompt.ids) == len(prompt.text) and prompt.shown == "ROMEO:  Qu ?  "
    note = generation.unknown_note(prompt, tok)
    assert "'¿'" in note and "'😀'" in note and f"{tok.vocab_size} characters" in note
    clean = generation.read_prompt(tok, "ROMEO:\n")
    assert clean.unknown == [] and clean.shown == "ROMEO:\n" and generation.unknown_note(clean, tok) is None
    assert tok.decode(clean.ids) == "ROMEO:\n"


@pytest.mark.parametrize("typed", ["", "😀😀"])
def test_a_prompt_with_nothing_known_still_gives_ids(ckpt, typed):
    prompt = generation.read_prompt(ckpt.tokenizer, typed)
    assert prompt.ids and all(0 <= i < ckpt.tokenizer.vocab_size for i in prompt.ids)
    if not typed:
        assert prompt.ids == [ckpt.tokenizer.stoi["\n"]] and prompt.shown == ""


# ---- streaming -----------------------------------------------------------------------------------


def test_timed_stream_yields_what_generate_samples(ckpt):
    ids = generation.read_prompt(ckpt.tokenizer, "ROMEO:").ids
    cfg = SampleConfig(max_new_tokens=200, temperature=0.8, seed=7)
    stream = generation.TimedStream(ckpt.model, ckpt.tokenizer, ids, cfg, chunk_seconds=0.0)
    chunks = list(stream)
    expected = ckpt.tokenizer.decode(s.token for s in generate(ckpt.model, ids, cfg))
    assert "".join(chunks) == stream.text == expected
    assert len(chunks) == 200  # chunk_seconds=0: one chunk per character
    assert (
        stream.n_chars == 200
        and stream.seconds > 0
        and stream.chars_per_sec == pytest.approx(200 / stream.seconds)
    )


def test_timed_stream_is_deterministic_under_a_seed(ckpt):
    def run(seed, chunk_seconds=10.0):
        stream = generation.TimedStream(
            ckpt.model, ckpt.tokenizer, [1, 2, 3], SampleConfig(120, seed=seed), chunk_seconds
        )
        chunks = list(stream)
        return chunks, stream.text

    (chunks, a), (_, b), (_, c) = run(1), run(1, 0.0), run(2)
    assert a == b and a != c
    assert chunks == [a]  # a long chunk interval: everything arrives in one chunk at the end


def sampling_thread() -> threading.Thread | None:
    return next((t for t in threading.enumerate() if t.name == "tinygpt-generate"), None)


@pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")
def test_the_model_samples_in_a_thread_that_gives_way_to_the_pages(ckpt):
    ours = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    stream = iter(generation.TimedStream(ckpt.model, ckpt.tokenizer, [1], SampleConfig(2000, seed=0), 0.0))
    next(stream)
    worker = sampling_thread()
    assert os.getpriority(os.PRIO_PROCESS, worker.native_id) == priority.GENERATION_NICENESS
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == ours
    stream.close()  # the page stopped reading: the sampling stops with it
    assert not worker.is_alive()


def test_a_failure_while_sampling_reaches_the_page(ckpt):
    broken = copy.deepcopy(ckpt.model)

    def forward(*args, **kwargs):
        raise RuntimeError("the model broke")

    broken.forward = forward
    with pytest.raises(RuntimeError, match="the model broke"):
        list(generation.TimedStream(broken, ckpt.tokenizer, [1], SampleConfig(5, seed=0, use_cache=False)))
    assert sampling_thread() is None


def test_as_markdown_escapes_every_markdown_character_and_keeps_line_breaks():
    text = "# KING: *no* _way_ $5 [x](y) <b>&amp; 1. `q`\n- ROMEO! \\ |a|b|\n\nEnd~"
    md = generation.as_markdown(text)
    assert "\n" not in md.replace("  \n", "")  # every newline is a hard break
    i = 0
    while i < len(md):  # every punctuation character is escaped
        if md[i] == "\\":
            assert md[i + 1] in string.punctuation
            i += 2
            continue
        assert md[i] not in string.punctuation, (i, md)
        i += 1
    assert re.sub(r"\\(.)", r"\1", md.replace("  \n", "\n")) == text  # and nothing else changed
    assert "".join(generation.as_markdown(ch) for ch in text) == md  # safe chunk by chunk


# ---- stepping through sampling -------------------------------------------------------------------


@pytest.mark.parametrize("top_k", [None, 3])
@pytest.mark.parametrize("use_cache", [True, False])
def test_step_through_follows_generate(ckpt, top_k, use_cache):
    ids = [5, 6, 7, 8, 9, 10]  # with 12 steps the 8-token window slides, rebuilding the cache
    cfg = SampleConfig(max_new_tokens=500, temperature=0.7, top_k=top_k, seed=3, use_cache=use_cache)
    steps = generation.step_through(ckpt.model, ids, cfg, 12)
    drawn = [s.token for s in generate(ckpt.model, ids, replace(cfg, max_new_tokens=12))]
    assert [s.token for s in steps] == drawn
    assert [len(s.context) for s in steps] == list(range(6, 18))
    assert list(steps[3].context) == ids + drawn[:3]
    for s in steps:
        assert torch.isclose(s.probs.sum(), torch.tensor(1.0)) and (s.probs > 0).all()  # the model's own view
        assert torch.allclose(generation.reshape(s.probs, 0.7, top_k), s.shaped, atol=1e-5)
        assert s.shaped[s.token] > 0
        if top_k:
            assert int((s.shaped > 0).sum()) == top_k


def test_step_through_a_bigram():
    torch.manual_seed(0)
    model = BigramLM(BigramConfig(10))
    steps = generation.step_through(model, [1], SampleConfig(seed=0), 5)
    assert len(steps) == 5
    for s in steps:  # a bigram's distribution depends on the last token only
        assert torch.allclose(s.probs, torch.softmax(model.token_embedding_table.weight[s.context[-1]], -1))


def test_reshape_by_temperature_and_top_k():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    assert torch.allclose(generation.reshape(probs), probs)
    cold, hot = generation.reshape(probs, 0.2), generation.reshape(probs, 5.0)
    assert torch.allclose(cold, probs**5 / (probs**5).sum())  # temperature T raises p to the power 1/T
    assert cold[3] > 0.75 and hot.max() < 0.3
    assert torch.allclose(generation.reshape(probs, 1.0, 2), torch.tensor([0, 0, 3 / 7, 4 / 7]))


def _step(probs, token, shaped=None):
    return generation.Step((0,), token, torch.tensor(probs), torch.tensor(shaped or probs))


def test_top_candidates_are_ranked_and_mark_the_sampled_one():
    tok = CharTokenizer("\n abc")
    rows = generation.top_candidates(
        _step([0.1, 0.4, 0.05, 0.3, 0.15], 4, [0.0, 0.6, 0.0, 0.3, 0.1]), tok, n=3
    )
    assert [r["char"] for r in rows] == [" ", "b", "c"] and [r["rank"] for r in rows] == [1, 2, 3]
    assert [r["label"] for r in rows] == ["␣", "b", "c"]
    assert [r["sampled"] for r in rows] == [False, False, True] and rows[2]["p_shaped"] == pytest.approx(0.1)
    rare = generation.top_candidates(_step([0.1, 0.4, 0.05, 0.3, 0.15], 2), tok, n=2)
    assert [r["char"] for r in rare] == [" ", "b", "a"] and rare[-1] == {
        "char": "a",
        "label": "a",
        "rank": 5,
        "p_model": pytest.approx(0.05),
        "p_shaped": pytest.approx(0.05),
        "sampled": True,
    }


def test_step_summary_describes_the_drawn_character():
    tok = CharTokenizer("\n abc")
    summary = generation.step_summary(_step([0.1, 0.4, 0.05, 0.3, 0.15], 0, [0.2, 0.8, 0, 0, 0]), tok)
    assert [label for label, _, _ in summary] == ["Sampled", "Its probability", "Choices (perplexity)"]
    assert summary[0][1:] == ("'\\n'", "rank 4 for the model")
    assert summary[1][1:] == ("20.0%", "10.0% at temperature 1")


def test_perplexity_counts_the_effective_choices():
    assert generation.perplexity(torch.full((4,), 0.25)) == pytest.approx(4.0)
    assert generation.perplexity(torch.tensor([0.0, 1.0, 0.0])) == pytest.approx(1.0)
    assert 2.0 < generation.perplexity(torch.tensor([0.5, 0.25, 0.25])) < 3.0


def test_decoding_uses_one_thread_and_restores_the_count(ckpt):
    before = torch.get_num_threads()
    seen = []
    with use_threads(1):
        seen.append(torch.get_num_threads())
    assert seen == [1] and torch.get_num_threads() == before
    with pytest.raises(RuntimeError), use_threads(1):
        raise RuntimeError("restored even when the block fails")
    assert torch.get_num_threads() == before
    list(generation.TimedStream(ckpt.model, ckpt.tokenizer, [1], SampleConfig(20, seed=0)))
    generation.step_through(ckpt.model, [1], SampleConfig(seed=0), 3)
    assert torch.get_num_threads() == before


@pytest.mark.skipif("OpenMP" not in torch.__config__.parallel_info(), reason="per-thread counts need OpenMP")
def test_the_thread_count_of_other_threads_is_left_alone():
    """A training run in a background thread keeps its threads while a page decodes on one."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    inside, ready, done = [], threading.Event(), threading.Event()

    def decoder():
        with use_threads(1):
            ready.set()
            done.wait(5)

    t = threading.Thread(target=decoder, daemon=True)
    t.start()
    ready.wait(5)
    inside.append(torch.get_num_threads())
    done.set()
    t.join(5)
    torch.set_num_threads(before)
    assert inside == [2]

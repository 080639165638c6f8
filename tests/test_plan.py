"""Planning a run: a step is timed for real when that is quick, on a smaller batch when the full one
would keep the page busy, and estimated from its arithmetic when even one row would."""

import time

import pytest

from course import plan


@pytest.fixture(scope="module")
def data(text):
    return plan.TrainingData.from_text(text[:200_000])


def spec_of(data, **values):
    return plan.make_spec(("gpt",), data.tokenizer.vocab_size, "tiny", **values)


def test_a_small_step_is_timed_at_full_size(data):
    spec = spec_of(data, batch_size=8)
    est = plan.time_per_step(spec, data, "cpu", budget=10.0)
    assert est.timed_batch == est.batch_size == 8 and not est.estimated
    assert 0 < est.seconds < 5 and est.tokens_per_sec == pytest.approx(8 * spec.block_size / est.seconds)


def test_a_larger_step_is_timed_on_fewer_rows(data):
    spec = plan.make_spec(("gpt",), data.tokenizer.vocab_size, "cpu", batch_size=4096)
    est = plan.time_per_step(spec, data, "cpu", budget=0.5)
    assert 1 <= est.timed_batch < 4096 and est.batch_size == 4096


def test_a_huge_step_is_estimated_quickly(data):
    plan.training_rate("cpu")  # once per process, like the server's first visit
    spec = plan.make_spec(("gpt",), data.tokenizer.vocab_size, "cpu", n_layer=48, n_embd=1024, block_size=512)
    start = time.perf_counter()
    est = plan.time_per_step(spec, data, "cpu")
    assert time.perf_counter() - start < 1.0
    assert est.estimated and est.seconds > 1.0
    flops = plan.step_flops(spec)
    assert est.seconds == pytest.approx(flops / plan.training_rate("cpu"), rel=0.01)

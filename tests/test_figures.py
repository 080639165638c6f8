"""The figure builders of the course: what they draw comes from the runs and demos they are given."""

import pytest

from course.figures.training import batch_curve
from course.runs import ModelTrace


def test_batch_curve_smooths_and_thins():
    trace = ModelTrace(
        "gpt",
        1,
        "x",
        steps=list(range(1, 1001)),
        losses=[4.0] * 500 + [2.0] * 500,
        times=[i / 10 for i in range(1000)],
    )
    xs, ys = batch_curve(trace, points=100)
    assert len(xs) <= 102 and xs[0] == 1 and xs[-1] == 1000
    assert ys[0] == 4.0 and 2.0 < ys[-1] < 2.01  # the moving average has caught up
    assert batch_curve(trace, by="time", points=100)[0][-1] == pytest.approx(99.9)

"""The lecture's ladder: each rung's structure and size, its training settings, the order of the losses
after a short climb, the climb across processes, the results file (and the shipped one), the CLI,
the background run that trains rungs in turn, and the lesson's figures."""

import json
import math
import time

import pytest
import torch
import torch.nn as nn
from conftest import ROOT

from course import ladder as course_ladder
from course import rungs as ladder_module
from course import runs, saved_runs
from course.figures import ladder as figures
from course.plan import TrainingData
from course.rungs import (
    CLIMB,
    DESCENT,
    RUNGS,
    LadderSettings,
    build_rung,
    climb,
    default_workers,
    read_results,
    rung_config,
    rung_params,
    rung_train_config,
    select_rungs,
    write_results,
)
from tinygpt.bigram import BigramLM
from tinygpt.cli import main
from tinygpt.gpt import GPT
from tinygpt.models import count_parameters

V, C, T = 65, 32, 8


def block_params(mlp_hidden: int | None, proj: bool, norms: int) -> int:
    """One block without biases: q, k, v; the projections; the MLP's layers; LayerNorm weights."""
    n = 3 * C * C + (C * C if proj else 0) + norms * C
    if mlp_hidden:
        n += C * mlp_hidden + (mlp_hidden * C if proj else 0)
    return n


EMBED_AND_HEAD = V * C + T * C + C * V  # token and position embeddings, LM head (no bias)
EXPECTED_PARAMS = {
    "bigram": V * V,
    "head": EMBED_AND_HEAD + block_params(None, False, 0),
    "heads": EMBED_AND_HEAD + block_params(None, False, 0),
    "ffwd": EMBED_AND_HEAD + block_params(C, False, 0),
    "blocks": EMBED_AND_HEAD + 3 * block_params(4 * C, True, 0),
    "layernorm": EMBED_AND_HEAD + 3 * block_params(4 * C, True, 2) + C,
    "deep": EMBED_AND_HEAD + 6 * block_params(4 * C, True, 2) + C,
    "no-pos": EMBED_AND_HEAD - T * C + 6 * block_params(4 * C, True, 2) + C,
    "no-residual": EMBED_AND_HEAD + 6 * block_params(4 * C, True, 2) + C,
    "no-layernorm": EMBED_AND_HEAD + 6 * block_params(4 * C, True, 0),
}


@pytest.mark.parametrize("key", list(RUNGS))
def test_each_rung_has_its_parameter_count(key):
    model = build_rung(RUNGS[key], V)
    expected = EXPECTED_PARAMS.get(key, EXPECTED_PARAMS["deep"])
    assert count_parameters(model) == rung_params(RUNGS[key], V) == expected


def test_each_rung_has_the_lectures_structure():
    bigram, head, heads, ffwd, blocks, layernorm = (build_rung(r, V) for r in CLIMB)
    assert isinstance(bigram, BigramLM)
    for model in (head, heads, ffwd, blocks, layernorm):
        assert isinstance(model, GPT) and "wpe" in model.transformer
        assert model.config.dropout == 0.0 and model.config.n_embd == C and model.config.block_size == T
    for model, n_head in ((head, 1), (heads, 4), (ffwd, 4)):
        (block,) = model.transformer.h
        assert block.attn.n_head == n_head and isinstance(block.attn.c_proj, nn.Identity)
        assert not block.residual and isinstance(block.ln_1, nn.Identity)
    assert head.transformer.h[0].mlp is None and heads.transformer.h[0].mlp is None
    mlp = ffwd.transformer.h[0].mlp  # the lecture's FeedForward: Linear(C, C) + ReLU, nothing after
    assert (
        mlp.c_fc.weight.shape == (C, C)
        and isinstance(mlp.act, nn.ReLU)
        and isinstance(mlp.c_proj, nn.Identity)
    )
    for model, norm in ((blocks, nn.Identity), (layernorm, nn.LayerNorm)):
        assert len(model.transformer.h) == 3
        for block in model.transformer.h:
            assert block.residual and isinstance(block.attn.c_proj, nn.Linear)
            assert block.mlp.c_fc.weight.shape == (4 * C, C) and isinstance(block.mlp.act, nn.ReLU)
            assert isinstance(block.ln_1, norm) and isinstance(block.ln_2, norm)
        assert isinstance(model.transformer.ln_f, norm)


def lecture_model(n_layer: int, n_head: int, proj: bool, ffwd: int, norm: bool) -> list[nn.Module]:
    """The lecture's layers at a rung, with their biases (its key, query and value have none)."""
    layers = [nn.Embedding(V, C), nn.Embedding(T, C), nn.Linear(C, V)]
    for _ in range(n_layer):
        layers += [nn.Linear(C, C // n_head, bias=False) for _ in range(3 * n_head)]
        if proj:
            layers.append(nn.Linear(C, C))
        if ffwd:
            layers += [nn.Linear(C, ffwd * C), nn.Linear(ffwd * C, C)] if proj else [nn.Linear(C, C)]
        if norm:
            layers += [nn.LayerNorm(C), nn.LayerNorm(C)]
    return layers + ([nn.LayerNorm(C)] if norm else [])


def test_the_lectures_parameter_counts():
    shapes = {
        "head": (1, 1, False, 0, False),
        "heads": (1, 4, False, 0, False),
        "ffwd": (1, 4, False, 1, False),
        "blocks": (3, 4, True, 4, False),
        "layernorm": (3, 4, True, 4, True),
    }
    for key, shape in shapes.items():
        counted = sum(p.numel() for layer in lecture_model(*shape) for p in layer.parameters())
        assert course_ladder.LECTURE_PARAMS[key] == counted, key
    assert course_ladder.LECTURE_PARAMS["bigram"] == V * V


def test_the_descent_removes_one_piece_each():
    deep = rung_config(DESCENT[0], V)
    assert deep.n_layer == 6 and deep == rung_config(CLIMB[-1], V).replace(n_layer=6)
    for rung in DESCENT[1:]:
        changed = {k for k, v in vars(rung_config(rung, V)).items() if getattr(deep, k) != v}
        assert len(changed) == 1 and getattr(rung_config(rung, V), changed.pop()) is False


def test_rungs_start_from_pytorchs_default_init_as_in_the_video():
    model = build_rung(RUNGS["head"], V)
    assert model.config.init == "pytorch"
    assert 0.8 < model.transformer.wte.weight.std().item() < 1.2  # nn.Embedding's N(0, 1), not N(0, 0.02)
    torch.manual_seed(0)
    assert GPT(model.config.replace(init="gpt2")).transformer.wte.weight.std().item() < 0.03
    same = build_rung(RUNGS["head"], V)
    assert torch.equal(same.transformer.wte.weight, model.transformer.wte.weight)  # seeded
    with pytest.raises(ValueError, match="init must be one of gpt2, lecture, pytorch"):
        model.config.replace(init="xavier")


def test_every_rung_trains_with_the_lectures_loop_on_the_same_batches():
    configs = [rung_train_config(r) for r in CLIMB]
    for cfg in configs:
        assert (cfg.batch_size, cfg.block_size, cfg.max_steps, cfg.eval_iters) == (32, 8, 5000, 200)
        assert cfg.warmup_steps == 0 and cfg.min_lr == cfg.learning_rate and cfg.grad_clip == 0
        assert (cfg.weight_decay, cfg.beta1, cfg.beta2) == (0.01, 0.9, 0.999)  # torch.optim.AdamW's
    assert configs[0].learning_rate == 1e-2 and {c.learning_rate for c in configs[1:]} == {1e-3}
    assert len({c.seed for c in configs}) == 1


def test_settings_refuse_nonsense():
    with pytest.raises(ValueError, match="max_steps"):
        LadderSettings(max_steps=0)
    with pytest.raises(ValueError, match="eval_interval"):
        LadderSettings(eval_interval=0)


@pytest.fixture(scope="module")
def data(text):
    return TrainingData.from_text(text, "Tiny Shakespeare")


@pytest.mark.slow
def test_after_a_short_climb_the_blocks_beat_the_single_layer_rungs(data):
    settings = LadderSettings(max_steps=400, eval_iters=20)
    val = {r.rung: r.val_loss for r in climb(CLIMB, data.splits, data.tokenizer, settings)}
    assert list(val) == [r.key for r in CLIMB]
    assert max(val["blocks"], val["layernorm"]) + 0.1 < min(
        val[k] for k in ("bigram", "head", "heads", "ffwd")
    )
    assert val["heads"] < val["head"]
    assert all(v < math.log(V) for v in val.values())  # every rung learned something


def test_climb_in_processes_matches_climbing_in_turn(data):
    rungs, settings = select_rungs(["head", "bigram"]), LadderSettings(max_steps=30, eval_iters=2, seed=7)
    alone = list(climb(rungs, data.splits, data.tokenizer, settings))
    apart = list(climb(rungs, data.splits, data.tokenizer, settings, workers=2, seeds=[7, 8]))
    assert [(r.rung, r.seed) for r in apart] == [("head", 7), ("bigram", 7), ("head", 8), ("bigram", 8)]
    for one, other in zip(alone, apart[:2], strict=True):
        assert one.val_loss == pytest.approx(other.val_loss, abs=1e-4) and one.params == other.params
    assert apart[0].val_loss != apart[2].val_loss  # another seed, other batches


def test_workers_default_to_the_idle_cores(monkeypatch):
    monkeypatch.setattr(ladder_module, "available_cores", lambda: 8)
    for load, jobs, expected in ((0.2, 6, 6), (0.2, 33, 8), (3.4, 33, 5), (7.9, 6, 1), (20.0, 6, 1)):
        monkeypatch.setattr(ladder_module.os, "getloadavg", lambda load=load: (load, 0.0, 0.0))
        assert default_workers(jobs) == expected


def test_select_rungs():
    assert select_rungs(["climb"]) == list(CLIMB)
    assert select_rungs(["descent", "deep", "bigram"]) == [*DESCENT, CLIMB[0]]
    with pytest.raises(ValueError, match="unknown rung 'top'"):
        select_rungs(["top"])


def test_results_round_trip_and_refuse_other_files(data, tmp_path):
    settings = LadderSettings(max_steps=5, eval_iters=1, sample_tokens=10)
    results = list(climb(select_rungs(["bigram"]), data.splits, data.tokenizer, settings))
    path = write_results(tmp_path / "ladder.json", results, settings, {"command": "python -m tinygpt ladder"})
    doc = read_results(path)
    assert doc["command"] == "python -m tinygpt ladder" and doc["settings"]["max_steps"] == 5
    (row,) = doc["results"]
    assert (
        row["rung"] == "bigram"
        and row["val_loss"] == round(results[0].val_loss, 4)
        and len(row["sample"]) == 10
    )
    (tmp_path / "other.json").write_text(json.dumps({"results": []}))
    with pytest.raises(ValueError, match="not a ladder results file"):
        read_results(tmp_path / "other.json")
    with pytest.raises(ValueError, match="cannot read"):
        read_results(tmp_path / "missing.json")


def test_cli_prints_one_json_object_per_rung(capsys, data_path, tmp_path):
    out = tmp_path / "ladder.json"
    args = ["ladder", "--rungs", "bigram", "heads", "--max-steps", "20", "--eval-iters", "2"]
    code = main([*args, "--data", str(data_path), "--workers", "1", "--json", "--out", str(out)])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["rung"] for r in lines] == ["bigram", "heads"]
    for row in lines:
        assert row["steps"] == 20 and row["seconds"] > 0 and row["val_loss"] < 5
        assert row["params"] == rung_params(RUNGS[row["rung"]], V)
    doc = read_results(out)
    assert doc["command"].startswith("python -m tinygpt ladder --rungs bigram heads --max-steps 20")
    assert main(["ladder", "--rungs", "top", "--data", str(data_path)]) == 2
    assert "unknown rung 'top'" in capsys.readouterr().err


# ---- the shipped results ---------------------------------------------------------------------------

SHIPPED = ROOT / "checkpoints" / "ladder.json"


def test_the_shipped_ladder_is_the_lectures_within_0_06():
    doc = read_results(SHIPPED)
    assert doc["command"].startswith(
        "python -m tinygpt ladder --rungs all --max-steps 5000 --seed 1337 1338 1339"
    )
    assert set(course_ladder.REBUILD.split()) <= set(doc["command"].split())
    assert doc["settings"] | {"seed": 0} == {
        **vars(LadderSettings(eval_interval=500, sample_tokens=200)),
        "seed": 0,
    }
    stairs = course_ladder.load_staircase(SHIPPED)
    assert set(stairs.rungs) == set(RUNGS) and len(stairs.seeds) >= 3
    for rung in RUNGS.values():
        stats = stairs.rungs[rung.key]
        assert len(stats.val) == len(stairs.seeds) and stats.params == rung_params(rung, V)
        assert len(stats.history[0]) == 10 and stats.sample
        if rung.lecture_val is not None:
            assert abs(stats.val_mean - rung.lecture_val) <= 0.06, rung.key
    vals = [stairs.rungs[r.key].val_mean for r in CLIMB]
    assert vals == sorted(vals, reverse=True)  # every rung steps down


# ---- the background run --------------------------------------------------------------------------


def test_a_ladder_run_trains_its_rungs_in_turn_and_saves_nothing(data, tmp_path):
    spec = course_ladder.LadderSpec(
        ("bigram", "head"), LadderSettings(max_steps=12, eval_interval=6, eval_iters=2, sample_tokens=5), V
    )
    run = runs.RunRegistry(max_runs=1).start(spec, data, tmp_path)
    assert run.wait(120)
    view = run.view()
    assert view.status == runs.FINISHED and view.step == 24 and view.progress == 1.0
    assert [len(t.evals) for t in view.models.values()] == [2, 2]
    assert [p.key for p in course_ladder.live_points(view)] == ["bigram", "head"]
    assert all(p.done and p.val is not None and len(p.sample) == 5 for p in course_ladder.live_points(view))
    assert view.models["head"].n_params == EXPECTED_PARAMS["head"]
    assert not list(tmp_path.iterdir())


def test_a_stopped_ladder_run_leaves_the_later_rungs_untrained(data, tmp_path):
    spec = course_ladder.LadderSpec(
        ("head", "heads", "ffwd"), LadderSettings(max_steps=10**6, eval_iters=1), V
    )
    registry = runs.RunRegistry(max_runs=1)
    run = registry.start(spec, data, tmp_path, owner="me")
    with pytest.raises(runs.TooManyRuns):
        registry.start(spec, data, tmp_path)
    with pytest.raises(saved_runs.NotYourRun):
        registry.stop(run.id, "someone else")
    deadline = time.monotonic() + 60
    while run.view().step < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    registry.stop(run.id, "me")
    assert run.wait(60)
    view = run.view()
    assert view.status == runs.STOPPED and len(view.models["head"].evals) == 1
    assert [len(view.models[k].steps) for k in ("heads", "ffwd")] == [0, 0]
    points = course_ladder.live_points(view)
    assert points[0].done and not points[1].done and points[1].val is None


def test_a_ladder_spec_refuses_unknown_rungs():
    with pytest.raises(ValueError, match="choose rungs"):
        course_ladder.LadderSpec(("top",), LadderSettings(), V)


# ---- figures ------------------------------------------------------------------------------------


def highlighted(dot: str) -> set[str]:
    return {line.split(" ", 1)[0] for line in dot.splitlines() if figures.NEW in line}


def test_the_block_diagram_highlights_what_each_rung_adds():
    configs = [rung_config(r, V) for r in CLIMB]
    new = [highlighted(figures.block_diagram(c, p)) for c, p in zip(configs[1:], configs, strict=False)]
    assert new[0] == {"wte", "wpe", "add", "attn", "lm_head"}  # from the bigram's table to a head
    assert new[1] == {"attn"} and "4 heads of 8" in figures.block_diagram(configs[2])
    assert new[2] == {"mlp"}
    assert new[3] == {"attn", "res_1", "mlp", "res_2"} and "block × 3" in figures.block_diagram(configs[4])
    assert new[4] == {"ln_1", "ln_2", "ln_f"}


def test_the_staircase_shows_ours_the_lectures_rung_7_and_a_live_climb():
    stairs = course_ladder.load_staircase(SHIPPED)
    top = course_ladder.top_rung()
    fig = figures.staircase_figure(stairs, top)
    names = [t.name for t in fig.data]
    assert names[:3] == [
        f"this project: val ({len(stairs.seeds)} seeds)",
        "this project: train",
        "the lecture: val",
    ]
    assert list(fig.data[2].y)[-1] == 1.48 and fig.data[3].x == (figures.TOP,)
    live = [
        course_ladder.LivePoint("bigram", 4225, 500, 2.6, 2.5, "", True),
        course_ladder.LivePoint("head", 7488, 200, 2.9, 2.8, "", False),
        course_ladder.LivePoint("heads", 7488, 0, None, None, "", False),
    ]
    fig = figures.staircase_figure(stairs, top, live, 500)
    names = [t.name for t in fig.data]
    assert names[-3:] == ["this project at 500 steps", "your climb: val", "your climb: training, step 200"]
    assert list(fig.data[-2].y) == [2.6] and list(fig.data[-1].x) == ["2 · one head"]

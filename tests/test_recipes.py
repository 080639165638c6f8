"""One table of recipes: the command line's preset, the Train page's preset and docs/training.md's
table are the same rows of tinygpt.train.RECIPES; the page changes only its named budgets."""

from dataclasses import asdict
from pathlib import Path

import pytest

from course import plan
from tinygpt import TrainConfig
from tinygpt.cli import _new_run, build_parser
from tinygpt.data import CharTokenizer
from tinygpt.gpt import PRESETS
from tinygpt.train import RECIPES

DOCS = Path(__file__).resolve().parent.parent / "docs" / "training.md"
COLUMNS = (
    "optimizer",
    "learning rate",
    "min lr",
    "warmup",
    "weight decay",
    "batch",
    "steps",
    "clipping",
    "precision",
)


def docs_table() -> dict[str, dict]:
    """recipe name -> its row of the recipe table in docs/training.md, by column."""
    lines = [line for line in DOCS.read_text().splitlines() if line.startswith("| ")]
    header = next(i for i, line in enumerate(lines) if line.startswith("| recipe |"))
    names = [c.strip() for c in lines[header].strip("|").split("|")]
    rows = {}
    for line in lines[header + 1 :]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(names) or not cells[0].startswith("`"):
            break
        rows[cells[0].strip("`")] = dict(zip(names, cells, strict=True))
    return rows


def as_docs_row(cfg: TrainConfig) -> dict:
    """How the docs' table writes a TrainConfig."""
    optimizer = f"muon ({cfg.muon_lr:g}) + adamw" if cfg.optimizer == "muon" else cfg.optimizer
    min_lr = cfg.learning_rate / 10 if cfg.min_lr is None else cfg.min_lr
    values = (optimizer, cfg.learning_rate, min_lr, cfg.warmup_steps, cfg.weight_decay, cfg.batch_size)
    values += (cfg.max_steps, cfg.grad_clip or "off", cfg.dtype)
    return {name: str(v if isinstance(v, str) else f"{v:g}") for name, v in zip(COLUMNS, values, strict=True)}


def test_every_preset_and_the_bigram_have_a_recipe():
    assert set(RECIPES) == set(PRESETS) | {"bigram", "ladder", "ladder-bigram", "fine-tune"}
    with pytest.raises(ValueError, match="unknown recipe"):
        TrainConfig.preset("nope")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_docs_table_is_the_recipe(name):
    row = docs_table()[name]
    assert {k: row[k] for k in COLUMNS} == as_docs_row(TrainConfig.preset(name))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_command_line_trains_the_recipe(name, tmp_path):
    args = build_parser().parse_args(["train", "--preset", name, "--out", str(tmp_path / "x.safetensors")])
    _, cfg = _new_run(args, CharTokenizer.from_text("abc"), {})
    assert asdict(cfg) == asdict(TrainConfig.preset(name, checkpoint_path=str(tmp_path / "x.safetensors")))


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_the_page_changes_only_its_budget(name):
    page = plan.make_spec(plan.RACE, 65, name)
    recipe = asdict(TrainConfig.preset(name))
    changed = {k for k, v in asdict(page.train).items() if v != recipe[k] and k != "block_size"}
    assert changed <= set(plan.PAGE_BUDGETS[name])


def test_the_bigram_trains_at_its_recipes_rate_on_the_page_and_the_command_line(tmp_path):
    page = plan.make_spec(plan.RACE, 65, "cpu").train_config("bigram")
    args = build_parser().parse_args(["train", "--model", "bigram", "--out", str(tmp_path / "b.safetensors")])
    _, cli = _new_run(args, CharTokenizer.from_text("abc"), {})
    assert page.learning_rate == cli.learning_rate == RECIPES["bigram"]["learning_rate"]
    assert page.weight_decay == cli.weight_decay == 0.0


def test_the_ladder_trains_the_ladders_rows():
    from course.rungs import RUNGS, rung_train_config

    assert rung_train_config(RUNGS["heads"]) == TrainConfig.preset("ladder", eval_interval=5000)
    assert rung_train_config(RUNGS["bigram"]) == TrainConfig.preset("ladder-bigram", eval_interval=5000)

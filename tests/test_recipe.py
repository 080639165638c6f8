"""course.recipe: the sentences the training lesson shows are derived from the settings, so they name
Muon for the `cpu` recipe, a constant rate without clipping for `lecture-exact`, and the departures
from the lecture for every other preset."""

from dataclasses import replace

from course import plan, recipe
from tinygpt.gpt import PRESETS, GPTConfig
from tinygpt.train import TrainConfig


def test_every_preset_offered_is_explained():
    assert set(recipe.PRESET_NOTES) == set(PRESETS)
    assert all(f"**{name}**" in recipe.preset_help() for name in PRESETS)


def test_the_cpu_recipe_is_muon_with_warmup_cosine_and_clipping():
    cfg = TrainConfig.preset("cpu")
    sentence = recipe.recipe_sentence(cfg)
    assert sentence.startswith("Muon moves the blocks' weight matrices (peak rate 0.04)")
    assert (
        f"rises linearly over the first {cfg.warmup_steps} steps, then follows a cosine down to 0.0006"
        in sentence
    )
    assert "clipped to an overall norm of at most 1" in sentence


def test_the_lecture_recipe_is_adamw_at_a_constant_rate_without_clipping_in_fp32():
    gpt, cfg = recipe.lecture()
    assert recipe.recipe_sentence(cfg) == (
        "AdamW (peak rate 0.0003, betas (0.9, 0.999), weight decay 0.01 on matrices and embeddings) moves every "
        "weight; the learning rate stays at 0.0003 throughout; the gradients are not clipped; it computes in fp32."
    )
    assert recipe.departures(gpt, cfg) == []


def test_departures_follow_the_settings():
    spec = plan.make_spec(("gpt",), 65, "lecture")
    away = recipe.departures(spec.gpt, spec.train)
    assert "GELU instead of ReLU (GPT-2's choice, which nanoGPT keeps)" in away and "no biases" in away
    assert "gradient clipping at 1" in away and "Muon for the blocks' matrices" not in away
    gpt, cfg = recipe.lecture()
    assert recipe.departures(gpt, replace(cfg, grad_clip=0.5)) == ["gradient clipping at 0.5"]
    assert recipe.departures(GPTConfig.preset("lecture-exact", init="pytorch"), cfg) == [
        "PyTorch's default init"
    ]

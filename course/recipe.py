"""What a run's settings do, in sentences derived from the settings themselves: which optimizer moves
which weights, the learning-rate schedule, clipping and precision, and where a preset departs from
the lecture's `gpt.py` (the `lecture-exact` preset). The training lesson shows these, so they change
when a recipe in `tinygpt.train.RECIPES` or `course.plan` changes and can never describe another one."""

from __future__ import annotations

from tinygpt.gpt import PRESETS, GPTConfig
from tinygpt.train import TrainConfig

# One line per preset for the preset selector; tests check that every preset has one.
PRESET_NOTES = {
    "cpu": "2 layers × 128, block 64: learns in a minute on 2 CPU cores (Muon + AdamW).",
    "lecture": "the lecture's shapes (6 × 384, block 256, 10.8M) with nanoGPT's GELU, no biases and recipe: for a GPU.",
    "lecture-exact": "the lecture's gpt.py model and recipe exactly (10,788,929 parameters, AdamW 3e-4, fp32): for a GPU.",
    "small": "4 × 256, block 128: the shipped model's shape (minutes on a CPU).",
    "tiny": "2 × 16, block 8: for tests; trains in a second and learns little.",
}


def preset_help() -> str:
    """The selector's help: each preset on its own line."""
    return "\n\n".join(f"**{name}**: {PRESET_NOTES[name]}" for name in PRESETS)


def lecture() -> tuple[GPTConfig, TrainConfig]:
    """The lecture's model and recipe, as the `lecture-exact` preset builds and trains them."""
    return GPTConfig.preset("lecture-exact"), TrainConfig.preset("lecture-exact")


def optimizer_sentence(cfg: TrainConfig) -> str:
    adamw = (
        f"AdamW (peak rate {cfg.learning_rate:g}, betas ({cfg.beta1:g}, {cfg.beta2:g}), weight decay "
        f"{cfg.weight_decay:g} on matrices and embeddings)"
    )
    if cfg.optimizer == "muon":
        return (
            f"Muon moves the blocks' weight matrices (peak rate {cfg.muon_lr:g}) and {adamw} the rest: "
            "the embeddings, the LM head, biases and LayerNorms"
        )
    return f"{adamw} moves every weight"


def schedule_sentence(cfg: TrainConfig) -> str:
    min_lr = cfg.learning_rate / 10 if cfg.min_lr is None else cfg.min_lr
    warmup = f"rises linearly over the first {cfg.warmup_steps} steps, then " if cfg.warmup_steps else ""
    if min_lr == cfg.learning_rate:
        return f"the learning rate {warmup}stays at {cfg.learning_rate:g}" + ("" if warmup else " throughout")
    return f"the learning rate {warmup}follows a cosine down to {min_lr:g} by the end of the run"


def clipping_sentence(cfg: TrainConfig) -> str:
    if cfg.grad_clip > 0:
        return f"the gradients are clipped to an overall norm of at most {cfg.grad_clip:g}"
    return "the gradients are not clipped"


def precision_sentence(cfg: TrainConfig) -> str:
    if cfg.dtype == "float32":
        return "it computes in fp32"
    if cfg.dtype == "bfloat16":
        return "it computes in bf16 (autocast)"
    return "it computes in bf16 where this device multiplies bf16 fast, else in fp32"


def recipe_sentence(cfg: TrainConfig) -> str:
    """One sentence: the optimizer, the schedule, clipping and precision of `cfg`."""
    parts = (optimizer_sentence(cfg), schedule_sentence(cfg), clipping_sentence(cfg), precision_sentence(cfg))
    return "; ".join(parts) + "."


def departures(gpt: GPTConfig, cfg: TrainConfig) -> list[str]:
    """Where `gpt` and `cfg` differ from the lecture's gpt.py, one phrase each (empty for lecture-exact)."""
    ref_gpt, ref = lecture()
    out = []
    if gpt.activation != ref_gpt.activation:
        out.append(f"{gpt.activation.upper()} instead of ReLU (GPT-2's choice, which nanoGPT keeps)")
    if (gpt.bias, gpt.qkv_bias, gpt.lm_head_bias) != (ref_gpt.bias, ref_gpt.qkv_bias, ref_gpt.lm_head_bias):
        out.append(
            "no biases" if not (gpt.bias or gpt.lm_head_bias) else "biases in other places than the lecture's"
        )
    if gpt.embd_dropout and gpt.dropout > 0:
        out.append("dropout on the embeddings too")
    if gpt.init != ref_gpt.init:
        out.append(
            {
                "gpt2": "GPT-2's init (the residual projections scaled down)",
                "pytorch": "PyTorch's default init",
            }[gpt.init]
        )
    if cfg.optimizer != ref.optimizer:
        out.append("Muon for the blocks' matrices")
    if (cfg.beta1, cfg.beta2, cfg.weight_decay) != (ref.beta1, ref.beta2, ref.weight_decay):
        out.append(f"AdamW's betas ({cfg.beta1:g}, {cfg.beta2:g}) and weight decay {cfg.weight_decay:g}")
    if schedule_sentence(cfg) != schedule_sentence(ref):
        out.append("a warmup and cosine schedule" if cfg.warmup_steps else "a cosine schedule")
    if cfg.grad_clip != ref.grad_clip:
        out.append(f"gradient clipping at {cfg.grad_clip:g}")
    if cfg.dtype != ref.dtype:
        out.append("bf16 where the device multiplies it fast")
    return out

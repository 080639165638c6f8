"""The model families by name: the one place that maps "gpt" and "bigram" to their classes."""

from __future__ import annotations

import torch.nn as nn

from .bigram import BigramConfig, BigramLM
from .gpt import GPT, GPTConfig

# model_type -> (model class, config class); a checkpoint stores the model_type
MODELS: dict[str, tuple[type[nn.Module], type]] = {
    GPT.model_type: (GPT, GPTConfig),
    BigramLM.model_type: (BigramLM, BigramConfig),
}
MODEL_TYPES = tuple(MODELS)


def _family(model_type: str) -> tuple[type[nn.Module], type]:
    if model_type not in MODELS:
        raise ValueError(f"unknown model type {model_type!r}; choose {' or '.join(MODELS)}")
    return MODELS[model_type]


def build_model(model_type: str, config) -> nn.Module:
    return _family(model_type)[0](config)


def model_type_of(model: nn.Module) -> str:
    model_type = getattr(model, "model_type", None)
    if model_type not in MODELS:
        raise TypeError(f"not a TinyGPT model: {type(model).__name__}")
    return model_type


def make_config(model_type: str, vocab_size: int, preset: str = "cpu", **overrides):
    """The config for `model_type` over `vocab_size` characters: a named preset + overrides."""
    return _family(model_type)[1].preset(preset, vocab_size=vocab_size, **overrides)


def config_for(model_type: str, values: dict):
    """A model config from plain data such as checkpoint metadata."""
    return _family(model_type)[1].from_dict(values)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

"""Build either model by name, and count what it is made of."""

from __future__ import annotations

import torch.nn as nn

from .bigram import BigramConfig, BigramLM, bigram_config_from_dict
from .gpt import GPT, GPTConfig, config_from_dict

MODEL_TYPES = ("gpt", "bigram")


def build_model(model_type: str, config) -> nn.Module:
    if model_type == "gpt":
        return GPT(config)
    if model_type == "bigram":
        return BigramLM(config)
    raise ValueError(f"unknown model type {model_type!r}; choose gpt or bigram")


def model_type_of(model: nn.Module) -> str:
    if isinstance(model, GPT):
        return "gpt"
    if isinstance(model, BigramLM):
        return "bigram"
    raise TypeError(f"not a TinyGPT model: {type(model).__name__}")


def make_config(model_type: str, vocab_size: int, preset: str = "cpu", **overrides):
    """The config for `model_type` over `vocab_size` characters (GPT: a named preset + overrides)."""
    if model_type == "bigram":
        return BigramConfig(vocab_size=vocab_size)
    if model_type == "gpt":
        return GPTConfig.preset(preset, vocab_size=vocab_size, **overrides)
    raise ValueError(f"unknown model type {model_type!r}; choose gpt or bigram")


def config_for(model_type: str, values: dict):
    """A model config from plain data such as checkpoint metadata."""
    if model_type == "bigram":
        return bigram_config_from_dict(values)
    if model_type == "gpt":
        return config_from_dict(values)
    raise ValueError(f"unknown model type {model_type!r}")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def parameter_table(model: nn.Module) -> list[dict]:
    """Parameters grouped by component (embeddings, each kind of layer, head), for display."""
    groups: dict[str, int] = {}
    for name, p in model.named_parameters():
        groups[_component(name)] = groups.get(_component(name), 0) + p.numel()
    total = sum(groups.values())
    return [{"component": k, "parameters": v, "share": v / total} for k, v in groups.items()]


def _component(name: str) -> str:
    if "wte" in name or "token_embedding" in name:
        return "token embedding"
    if "wpe" in name:
        return "position embedding"
    if ".attn." in name:
        return "attention (all blocks)"
    if ".mlp." in name:
        return "MLP (all blocks)"
    if "ln_" in name:
        return "layer norms"
    if "lm_head" in name:
        return "LM head"
    return "other"

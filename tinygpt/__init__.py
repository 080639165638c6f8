"""TinyGPT: a character-level GPT built from scratch in PyTorch, following the "Let's build GPT"
lecture (it also trains on BPE or word tokens, tinygpt.tokenizers). A plain library (no Streamlit, no
course): the lessons, the command line and the tests drive it."""

from .bigram import BigramConfig, BigramLM
from .checkpoint import Checkpoint, CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from .corpus import DatasetError, load_shakespeare, text_from_bytes
from .data import (
    CharTokenizer,
    Splits,
    TokenizerError,
    bits_per_char,
    encode_splits,
    encode_text,
    get_batch,
    split_data,
    split_text,
)
from .gpt import GPT, ConfigError, GPTConfig
from .models import build_model, count_parameters, make_config
from .sample import SampleConfig, encode_prompt, generate, generate_text
from .tokenizers import TOKENIZERS, make_tokenizer, tokenizer_for, tokenizer_from_json
from .train import TrainConfig, train

__all__ = [
    "BigramConfig",
    "BigramLM",
    "CharTokenizer",
    "Checkpoint",
    "CheckpointError",
    "ConfigError",
    "DatasetError",
    "GPT",
    "GPTConfig",
    "SampleConfig",
    "TOKENIZERS",
    "Splits",
    "TokenizerError",
    "TrainConfig",
    "bits_per_char",
    "build_model",
    "count_parameters",
    "encode_prompt",
    "encode_splits",
    "encode_text",
    "generate",
    "generate_text",
    "get_batch",
    "list_checkpoints",
    "load_checkpoint",
    "load_shakespeare",
    "make_config",
    "make_tokenizer",
    "save_checkpoint",
    "split_data",
    "split_text",
    "text_from_bytes",
    "tokenizer_for",
    "tokenizer_from_json",
    "train",
]

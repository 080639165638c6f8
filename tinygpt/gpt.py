"""A GPT over characters (or any tokenizer's tokens): embeddings, pre-norm Transformer blocks, LM head.

Based on the "Let's build GPT" lecture and nanoGPT's `model.py` (names, typed config, GPT-2 init).
Each module runs in two ways over the same weights: `forward` for a batch of sequences (training,
prefill, attention maps), and `one_token()`, a function for one new token at batch 1 with a KV
cache: sampling's hot path, where a PyTorch call's fixed cost rivals its arithmetic. The config's
switches take pieces away (feed-forward, residuals, LayerNorm, ...) so the lecture's climb from a
single head to the full Transformer is built from these same classes, and others try what later
models changed: RMSNorm, post-norm (the 2017 paper's order) and tied input/output embeddings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import torch
import torch.nn as nn
from torch.nn import functional as F

ACTIVATIONS = ("gelu", "relu")
INITS = ("gpt2", "lecture", "pytorch")
NORMS = ("layernorm", "rmsnorm")
NORM_POSITIONS = ("pre", "post")
RMS_EPS = 1e-5  # LayerNorm's default; nn.RMSNorm's own default depends on the dtype


class ConfigError(ValueError):
    """Settings that cannot make a model or a run; `problems` holds one plain sentence per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems

    @classmethod
    def check(cls, problems: list[str]) -> None:
        """Raise one that lists `problems`, if there are any."""
        if problems:
            raise cls(problems)


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 256
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.2
    bias: bool = False  # biases in Linear layers and LayerNorms; nanoGPT finds them unneeded
    qkv_bias: bool | None = None  # biases on q, k and v; None: as `bias` (the lecture's heads have none)
    lm_head_bias: bool = False  # a bias on the LM head (the lecture's has one)
    embd_dropout: bool = True  # dropout on the embeddings, as nanoGPT (the lecture has none there)
    use_flash: bool = True  # fast attention through F.scaled_dot_product_attention where it pays
    # The pieces of the full model, each of which can be switched off (lesson 3 climbs through them).
    pos_emb: bool = True  # learned position embeddings added to the token embeddings
    attn_scale: bool = True  # attention scores divided by sqrt(head_size)
    proj: bool = True  # output projections after attention and after the MLP's hidden layer
    mlp: bool = True  # a feed-forward network after attention in each block
    mlp_ratio: int = 4  # the MLP's hidden width, in multiples of n_embd
    activation: str = "gelu"  # the MLP's non-linearity: gelu (GPT-2) or relu (the lecture)
    residual: bool = True  # x + f(x) around attention and the MLP, rather than f(x)
    layer_norm: bool = True  # normalization (`norm`) around attention, the MLP and before the LM head
    norm: str = "layernorm"  # layernorm (GPT-2, the lecture) or rmsnorm (LLaMA: no mean, no bias)
    # pre: normalize each sub-layer's input, x + f(norm(x)) (GPT-2, the lecture). post: normalize
    # after the residual add, norm(x + f(x)), as in the 2017 paper; the last block's norm is then
    # the stack's output, so post-norm has no final ln_f.
    norm_position: str = "pre"
    tie_weights: bool = False  # the LM head's weight is the token embedding's (wte), as in GPT-2
    # gpt2: weights from N(0, 0.02), residual projections scaled down (nanoGPT). lecture: N(0, 0.02)
    # without the scaling (ng-video-lecture gpt.py's `_init_weights`). pytorch: each layer's own
    # default, as in the lecture's video, which the climb's small models without LayerNorm need.
    init: str = "gpt2"

    def __post_init__(self):
        ConfigError.check(config_problems(self))

    @classmethod
    def preset(cls, name: str, **overrides) -> GPTConfig:
        """A named starting point (see `PRESETS`), with fields replaced by `overrides`."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @classmethod
    def from_dict(cls, values: dict) -> GPTConfig:
        """A config from plain data (e.g. checkpoint metadata), ignoring unknown keys."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def replace(self, **changes) -> GPTConfig:
        return replace(self, **changes)

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head


PRESETS: dict[str, dict] = {
    # The lecture's final model: 10.8M parameters, made for a GPU.
    "lecture": dict(block_size=256, n_layer=6, n_head=6, n_embd=384, dropout=0.2),
    # The lecture's gpt.py exactly: ReLU, biases everywhere but q/k/v and with one on the LM head, no
    # dropout on the embeddings, its init; 10,788,929 parameters (trained with its recipe, train.RECIPES).
    "lecture-exact": dict(
        block_size=256,
        n_layer=6,
        n_head=6,
        n_embd=384,
        dropout=0.2,
        activation="relu",
        bias=True,
        qkv_bias=False,
        lm_head_bias=True,
        embd_dropout=False,
        init="lecture",
    ),
    # Fast on a small CPU with its recipe (train.RECIPES); docs/training.md has its measured time.
    "cpu": dict(block_size=64, n_layer=2, n_head=4, n_embd=128, dropout=0.0),
    # The shipped pretrained model: the best this project could train on a 2-core CPU.
    "small": dict(block_size=128, n_layer=4, n_head=4, n_embd=256, dropout=0.1),
    # For tests: a forward pass takes microseconds.
    "tiny": dict(block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0),
}


def config_problems(config: GPTConfig) -> list[str]:
    """Every reason `config` cannot build a model, as plain sentences (empty when it is fine)."""
    problems = []
    for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "mlp_ratio"):
        if getattr(config, name) < 1:
            problems.append(f"{name} must be at least 1 (got {getattr(config, name)})")
    if config.n_head >= 1 and config.n_embd % config.n_head:
        problems.append(f"n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head})")
    if not 0.0 <= config.dropout < 1.0:
        problems.append(f"dropout must be in [0, 1) (got {config.dropout})")
    if config.activation not in ACTIVATIONS:
        problems.append(f"activation must be one of {', '.join(ACTIVATIONS)} (got {config.activation!r})")
    if config.init not in INITS:
        problems.append(f"init must be one of {', '.join(INITS)} (got {config.init!r})")
    if config.norm not in NORMS:
        problems.append(f"norm must be one of {', '.join(NORMS)} (got {config.norm!r})")
    if config.norm_position not in NORM_POSITIONS:
        problems.append(
            f"norm_position must be one of {', '.join(NORM_POSITIONS)} (got {config.norm_position!r})"
        )
    if config.mlp and not config.proj and config.mlp_ratio != 1:
        problems.append("without output projections the MLP must stay n_embd wide (mlp_ratio 1)")
    return problems


class LayerCache:
    """One layer's keys and values for the tokens seen so far, preallocated to block_size."""

    def __init__(self, batch_size: int, config: GPTConfig, device, dtype):
        shape = (batch_size, config.n_head, config.block_size, config.head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.length = 0
        self.k1, self.v1 = self.k[0], self.v[0]  # (nh, block_size, hs): the first sequence, for append_one

    def append(self, k: torch.Tensor, v: torch.Tensor):
        """Store k, v (B, nh, T, hs) after the cached ones; return all keys and values so far."""
        start, end = self.length, self.length + k.size(2)
        self.k[:, :, start:end] = k
        self.v[:, :, start:end] = v
        self.length = end
        return self.k[:, :, :end], self.v[:, :, :end]

    def append_one(self, k: torch.Tensor, v: torch.Tensor):
        """`append` for one token at batch 1: k, v are (nh, 1, hs); returns (nh, T, hs) views."""
        self.length += 1
        keys, values = self.k1[:, : self.length], self.v1[:, : self.length]
        keys[:, -1:], values[:, -1:] = k, v
        return keys, values


class KVCache:
    """The keys and values of every layer: `layers[i]` belongs to block i."""

    def __init__(self, config: GPTConfig, batch_size: int, device, dtype):
        self.batch_size = batch_size
        self.layers = [LayerCache(batch_size, config, device, dtype) for _ in range(config.n_layer)]

    @property
    def length(self) -> int:
        return self.layers[0].length


def causal_mask(t_q: int, t_k: int, device=None) -> torch.Tensor:
    """True where query i (the last t_q of t_k positions) may attend to key j."""
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(t_k - t_q)


def attention_scores(q, k, scale: float) -> torch.Tensor:
    """How well each query matches each key, q·kᵀ·scale, before the mask: (B, nh, Tq, Tk)."""
    return (q @ k.transpose(-2, -1)) * scale  # (B, nh, Tq, hs) x (B, nh, hs, Tk) -> (B, nh, Tq, Tk)


def mask_future(att: torch.Tensor) -> torch.Tensor:
    """Scores (..., Tq, Tk) with -inf wherever a query would read a later key."""
    t_q, t_k = att.shape[-2:]
    return att.masked_fill(~causal_mask(t_q, t_k, att.device), float("-inf"))


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """F.dropout, with the CPU's masks drawn four at a time. PyTorch's CPU dropout draws a random
    number per element from a generator that runs on one core: a third of a training step at the
    lecture's size on 2 cores. Here 64-bit random integers are cut into four 16-bit ones; an element
    survives when its number is above a threshold, with probability 1 - round(p * 65536) / 65536."""
    if not training or p == 0.0 or x.device.type != "cpu":
        return F.dropout(x, p, training)
    n = x.numel()
    r = torch.empty((n + 3) // 4, dtype=torch.int64).random_(-(2**63), 2**63 - 1).view(torch.int16)[:n]
    dropped = min(round(p * 65536), 65535)
    # bool -> uint8 (a view) -> x's dtype: 10x faster than converting the bool directly
    keep = (r >= dropped - 32768).view(torch.uint8).to(x.dtype).view(x.shape)
    return x * keep.mul_(65536 / (65536 - dropped))  # survivors scaled up: the same expected value


class Dropout(nn.Dropout):
    """nn.Dropout through `dropout`."""

    def forward(self, x):
        return dropout(x, self.p, self.training)


def explicit_attention(q, k, v, scale: float, dropout_p: float = 0.0):
    """softmax(q·kᵀ·scale + causal mask)·v, written out; returns (output, weights)."""
    att = F.softmax(mask_future(attention_scores(q, k, scale)), dim=-1)
    out = dropout(att, dropout_p) @ v  # (B, nh, Tq, Tk) x (B, nh, Tk, hs) -> (B, nh, Tq, hs)
    return out, att


# A CPU's caches hold a few MB: the attention weights of a big batch (64 x 6 heads x 256 x 256 floats
# = 100 MB at the lecture's size) and the MLP's hidden layer stream from memory at every step of the
# softmax, the activation, the dropout and their gradients, and each fresh tensor that large is
# page-faulted in anew. CPU training computes them in slices of about this many bytes: the same
# arithmetic, the attention 2x and a whole step 1.3-1.6x faster at that size (docs/benchmarks.md).
SLICE_BYTES = 8 * 2**20


def sliced_attention(q, k, v, scale: float, dropout_p: float = 0.0):
    """`explicit_attention`'s output (B, nh, T, hs) for CPU training, a few sequences at a time. It is
    laid out in memory as (B, T, nh, hs), so putting the heads side by side afterwards copies nothing."""
    B, nh, T, hs = q.shape
    rows = max(1, SLICE_BYTES // (nh * T * k.size(-2) * q.element_size()))  # sequences per slice
    if rows >= B:
        return explicit_attention(q, k, v, scale, dropout_p)[0]
    slices = zip(q.split(rows), k.split(rows), v.split(rows), strict=True)
    heads = [explicit_attention(a, b, c, scale, dropout_p)[0].transpose(1, 2) for a, b, c in slices]
    return torch.cat(heads).transpose(1, 2)  # (B, T, nh, hs) in memory, seen as (B, nh, T, hs)


# PyTorch's fused CPU kernel loses to the explicit matmuls when training (1.9x slower with bf16,
# no faster in fp32; docs/benchmarks.md), so CPU training takes the explicit path. True: fused anyway.
FLASH_FOR_CPU_TRAINING = False


def fast_attention_pays(x: torch.Tensor) -> bool:
    """The fused kernel on GPUs, and on a CPU when no gradients are needed (inference)."""
    return x.device.type != "cpu" or not torch.is_grad_enabled() or FLASH_FOR_CPU_TRAINING


def fast_attention(q, k, v, scale: float, dropout_p: float = 0.0):
    """The same operation through PyTorch's fused kernel (flash / memory-efficient / CPU)."""
    t_q, t_k = q.size(-2), k.size(-2)
    if t_q == t_k:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True, scale=scale)
    # Queries after a KV cache: the last t_q positions; a single query sees every key.
    mask = None if t_q == 1 else causal_mask(t_q, t_k, q.device)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p, scale=scale)


def linear_one(layer: nn.Module):
    """`layer` as a function of one row, f(x, residual=None) -> layer(x) (+ residual): a Linear as
    one matrix-vector product with the add fused in, an Identity (a switched-off projection) as x."""
    if isinstance(layer, nn.Identity):
        return lambda x, residual=None: x if residual is None else residual + x
    w, b = layer.weight, layer.bias

    def linear(x, residual=None):
        out = torch.mv(w, x) if residual is None else torch.addmv(residual, w, x)
        return out if b is None else out.add_(b)

    return linear


def make_norm(config: GPTConfig) -> nn.Module:
    """The normalization layer the config asks for (Identity when normalization is off)."""
    if not config.layer_norm:
        return nn.Identity()
    if config.norm == "rmsnorm":
        return nn.RMSNorm(config.n_embd, eps=RMS_EPS)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


def norm_one(ln: nn.Module):
    """`ln` (LayerNorm, RMSNorm or Identity) as a function of one row."""
    if isinstance(ln, nn.Identity):
        return lambda x: x
    if isinstance(ln, nn.RMSNorm):
        shape, w, eps = ln.normalized_shape, ln.weight, ln.eps
        return lambda x: torch.rms_norm(x, shape, w, eps)
    shape, w, b, eps = ln.normalized_shape, ln.weight, ln.bias, ln.eps
    return lambda x: torch.layer_norm(x, shape, w, b, eps)


class CausalSelfAttention(nn.Module):
    """Multi-head masked self-attention: q, k, v for every head from one fused projection (the
    lecture's separate `Head`s side by side), the heads' outputs concatenated and projected."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.use_flash = config.use_flash
        self.dropout = config.dropout
        self.scale = 1.0 / math.sqrt(config.head_size) if config.attn_scale else 1.0
        qkv_bias = config.bias if config.qkv_bias is None else config.qkv_bias
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=qkv_bias)
        self.c_proj = (
            nn.Linear(config.n_embd, config.n_embd, bias=config.bias) if config.proj else nn.Identity()
        )
        self.resid_dropout = Dropout(config.dropout)

    def forward(self, x, cache: LayerCache | None = None, need_weights: bool = False):
        """(output (B, T, C), attention weights (B, nh, T, T_keys) if need_weights else None)."""
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.append(k, v)  # (B, nh, T_cached + T, hs)
        p = self.dropout if self.training else 0.0
        att = None
        if self.use_flash and not need_weights and fast_attention_pays(x):
            y = fast_attention(q, k, v, self.scale, p)  # (B, nh, T, hs)
        elif need_weights or x.device.type != "cpu":
            y, att = explicit_attention(q, k, v, self.scale, p)
        else:
            y = sliced_attention(q, k, v, self.scale, p)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # re-assemble heads: (B, T, C)
        return self.resid_dropout(self.c_proj(y)), att if need_weights else None

    def one_token(self):
        """`forward` for one new token (C,) at batch 1 as a function (x, cache) -> the heads side by
        side (C,), before the output projection. The token may see every cached key: no mask."""
        qkv, n_head, scale = linear_one(self.c_attn), self.n_head, self.scale

        def heads(x, cache: LayerCache):
            q, k, v = qkv(x).view(3, n_head, 1, -1).unbind(0)  # 3 x (nh, 1, hs)
            keys, values = cache.append_one(k, v)  # (nh, T, hs), the new token's last
            att = torch.bmm(q, keys.transpose(1, 2)).mul_(scale).softmax(-1)  # (nh, 1, T)
            return torch.bmm(att, values).view(-1)  # (nh, 1, hs) -> (C,)

        return heads


class MLP(nn.Module):
    """The per-token feed-forward network: widen (4x), a non-linearity, project back."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.mlp_ratio * config.n_embd
        self.c_fc = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.act = nn.GELU() if config.activation == "gelu" else nn.ReLU()
        self.c_proj = nn.Linear(hidden, config.n_embd, bias=config.bias) if config.proj else nn.Identity()
        self.dropout = Dropout(config.dropout)

    def forward(self, x):
        rows = max(1, SLICE_BYTES // (self.c_fc.out_features * x.element_size()))
        if x.device.type != "cpu" or not torch.is_grad_enabled() or rows * x.size(-1) >= x.numel():
            return self._forward(x)
        # CPU training, a big batch: a few rows (tokens) at a time, see SLICE_BYTES
        return torch.cat([self._forward(part) for part in x.reshape(-1, x.size(-1)).split(rows)]).view_as(x)

    def _forward(self, x):
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))

    def one_token(self):
        """The hidden layer as a function of one row, before the output projection."""
        c_fc, act = linear_one(self.c_fc), self.act.forward  # .forward: no module-call overhead
        return lambda x: act(c_fc(x))


class Block(nn.Module):
    """One Transformer block: communication (attention) then computation (MLP), each pre-norm,
    x + f(norm(x)), or post-norm, norm(x + f(x))."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.residual = config.residual
        self.post_norm = config.norm_position == "post"
        self.ln_1 = make_norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = make_norm(config) if config.mlp else None
        self.mlp = MLP(config) if config.mlp else None

    def forward(self, x, cache: LayerCache | None = None, need_weights: bool = False):
        """(x after the block (B, T, C), the attention weights or None)."""
        if self.post_norm:
            return self._forward_post(x, cache, need_weights)
        y, att = self.attn(self.ln_1(x), cache, need_weights)
        x = x + y if self.residual else y
        if self.mlp is not None:
            y = self.mlp(self.ln_2(x))
            x = x + y if self.residual else y
        return x, att

    def _forward_post(self, x, cache: LayerCache | None, need_weights: bool):
        """The 2017 paper's order: each sub-layer reads x as it is; the norm follows the add."""
        y, att = self.attn(x, cache, need_weights)
        x = self.ln_1(x + y if self.residual else y)
        if self.mlp is not None:
            y = self.mlp(x)
            x = self.ln_2(x + y if self.residual else y)
        return x, att

    def one_token(self):
        """`forward` for one token (C,) at inference as a function (x, cache) -> x: no dropout, and
        each projection fused with its residual add."""
        ln_1, heads, attn_proj = norm_one(self.ln_1), self.attn.one_token(), linear_one(self.attn.c_proj)
        mlp, residual = self.mlp is not None, self.residual
        if mlp:
            ln_2, hidden, mlp_proj = norm_one(self.ln_2), self.mlp.one_token(), linear_one(self.mlp.c_proj)
        if self.post_norm:

            def post_block(x, cache: LayerCache):
                x = ln_1(attn_proj(heads(x, cache), x if residual else None))
                if mlp:
                    x = ln_2(mlp_proj(hidden(x), x if residual else None))
                return x

            return post_block

        def block(x, cache: LayerCache):
            x = attn_proj(heads(ln_1(x), cache), x if residual else None)
            if mlp:
                x = mlp_proj(hidden(ln_2(x)), x if residual else None)
            return x

        return block


class GPT(nn.Module):
    """The decoder-only Transformer of the lecture. `forward(idx, targets) -> (logits, loss)`."""

    model_type = "gpt"

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        parts = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if config.pos_emb:
            parts["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        parts |= dict(
            drop=Dropout(config.dropout) if config.embd_dropout else nn.Identity(),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            # post-norm: the last block ends with a norm already (the 2017 paper has no final one)
            ln_f=make_norm(config) if config.norm_position == "pre" else nn.Identity(),
        )
        self.transformer = nn.ModuleDict(parts)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=config.lm_head_bias)
        if config.tie_weights:  # one matrix reads tokens in and scores them out (GPT-2, Press & Wolf 2017)
            self.lm_head.weight = self.transformer.wte.weight
        if config.init != "pytorch":  # pytorch: keep what each layer's constructor drew
            self._init_small()

    @property
    def tied_weights(self) -> dict[str, str]:
        """State-dict names that are another name's tensor ({} when untied): a checkpoint stores
        each tensor once."""
        return {"lm_head.weight": "transformer.wte.weight"} if self.config.tie_weights else {}

    @property
    def context_size(self) -> int:
        return self.config.block_size

    def _init_small(self):
        """Every weight from N(0, 0.02), biases 0 (the lecture's gpt.py); gpt2 also scales c_proj down."""
        self.apply(self._init_weights)
        if self.config.init == "lecture":  # the lecture's gpt.py stops here
            return
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                # scaled init for residual projections, per GPT-2: keeps the stream's variance flat
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * self.config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def embed(self, idx, start: int = 0) -> torch.Tensor:
        """Token (+ position) embeddings of idx (B, T) placed at positions start.., as (B, T, C)."""
        T = idx.size(1)
        if start + T > self.config.block_size:
            raise ValueError(
                f"sequence of {start + T} tokens is longer than block_size {self.config.block_size}"
            )
        x = self.transformer.wte(idx)  # (B, T, C)
        if "wpe" in self.transformer:
            x = x + self.transformer.wpe(torch.arange(start, start + T, device=idx.device))  # + (T, C)
        return self.transformer.drop(x)

    def forward(self, idx, targets=None, cache: KVCache | None = None):
        """Logits (B, T, vocab) for idx (B, T); loss is the mean cross-entropy when targets are given.
        With `cache`, idx holds only the new tokens, placed after the cached ones."""
        x = self.embed(idx, cache.length if cache is not None else 0)
        for i, block in enumerate(self.transformer.h):
            x, _ = block(x, cache.layers[i] if cache is not None else None)
        logits = self.lm_head(self.transformer.ln_f(x))  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.view(-1))
        return logits, loss

    def decoder(self):
        """The forward pass for one new token at batch 1, as a function (token, cache) -> the next
        token's logits (vocab_size,), the token appended to the cache. It equals
        `self(torch.tensor([[token]]), cache=cache)[0][0, -1]` in eval mode, but each module's
        weights are looked up once, here, and each layer runs as a handful of plain calls: at
        batch 1 a module call costs about as much as its arithmetic. Build one per generation."""
        if self.training:
            raise ValueError(
                "the decoder runs the model as at inference (no dropout): call model.eval() first"
            )
        t, block_size = self.transformer, self.config.block_size
        wte, wpe = t.wte.weight, t.wpe.weight if "wpe" in t else None
        blocks, ln_f, lm_head = [b.one_token() for b in t.h], norm_one(t.ln_f), linear_one(self.lm_head)

        @torch.inference_mode()
        def decode(token: int, cache: KVCache) -> torch.Tensor:
            pos = cache.length
            if cache.batch_size != 1 or pos >= block_size:
                raise ValueError(
                    f"the decoder needs a batch-1 cache with room left (block_size {block_size})"
                )
            x = wte[token] if wpe is None else wte[token] + wpe[pos]  # (C,): no batch or time dimension
            for block, layer_cache in zip(blocks, cache.layers, strict=True):
                x = block(x, layer_cache)
            return lm_head(ln_f(x))

        return decode

    def new_cache(self, batch_size: int = 1) -> KVCache:
        p = self.lm_head.weight
        return KVCache(self.config, batch_size, p.device, p.dtype)

    @torch.no_grad()
    def attention_maps(self, idx) -> torch.Tensor:
        """The attention weights of every layer and head: (n_layer, B, n_head, T, T)."""
        x, maps = self.embed(idx), []
        for block in self.transformer.h:
            x, att = block(x, need_weights=True)
            maps.append(att)
        return torch.stack(maps)

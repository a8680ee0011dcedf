"""A decode-only forward pass for Llama-architecture models, for sampling on a CPU.

The tiny embedded model needs about 2 MFLOP per token, so what costs is not arithmetic but
transformers' module machinery (masks rebuilt every step, a cache object per layer) and, above
all, reading the key/value cache every step. This runs the same weights (read from the loaded
LlamaForCausalLM, so the numbers are the model's own: same RMSNorm, rotary embedding, SwiGLU) with
the query/key/value and gate/up projections fused into one matrix each, and it keeps the prompt's
keys and values once per prompt: the K samples of a task attend to one copy of their prompt (read
once per step for all K) plus their own generated tokens. Models that are not a plain Llama
(biases, q/k norms, sliding windows, other activations) use transformers' forward instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


BMM_ROWS = 4
"""Queries per (prompt, head) from which einsum's attention over the prompt is a plain batched matmul of the
queries and the transposed keys (torch 2.13, CPU; below it einsum takes another path, other rounding): there
the keys are kept transposed once, so no step copies them. tests/test_sampling.py holds einsum to it."""


def prompt_scores(queries: torch.Tensor, keys_t: torch.Tensor) -> torch.Tensor:
    """einsum("pchrd,phtd->pchrt", queries, keys) from the keys kept transposed (`keys_t` [P, H, D, T],
    contiguous): the batched matmul einsum runs from BMM_ROWS rows, without its copy of the keys."""
    p, c, h, r, d = queries.shape
    t = keys_t.shape[-1]
    scores = torch.bmm(queries.permute(0, 2, 1, 3, 4).reshape(p * h, c * r, d), keys_t.view(p * h, d, t))
    return scores.view(p, h, c, r, t).permute(0, 2, 1, 3, 4)


def supports(model) -> bool:
    """Whether `model` is a LlamaForCausalLM this forward reproduces exactly."""
    config = getattr(model, "config", None)
    if type(model).__name__ != "LlamaForCausalLM" or config is None:
        return False
    if getattr(config, "attention_bias", False) or getattr(config, "mlp_bias", False):
        return False
    if getattr(config, "hidden_act", "silu") != "silu" or getattr(config, "sliding_window", None):
        return False
    layer = model.model.layers[0]
    return hasattr(layer.self_attn, "q_proj") and not hasattr(layer.self_attn, "q_norm")


class FastLlama:
    """The forward pass of a LlamaForCausalLM for rows that sample from shared prompts.

    `prefill` reads the distinct prompts; the first `select` maps each row to its prompt (rows of one
    prompt are consecutive); later `select`s drop finished rows; `step` feeds one token per row."""

    def __init__(self, model):
        c = model.config
        self.eps = c.rms_norm_eps
        self.heads = c.num_attention_heads
        self.kv_heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        self.group = self.heads // self.kv_heads
        self.scale = self.head_dim ** -0.5
        self.embed = model.model.embed_tokens.weight
        self.rotary = model.model.rotary_emb
        self.layers = []
        for layer in model.model.layers:
            a, m = layer.self_attn, layer.mlp
            self.layers.append((
                layer.input_layernorm.weight,
                torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).t().contiguous(),
                a.o_proj.weight.t().contiguous(),
                layer.post_attention_layernorm.weight,
                torch.cat([m.gate_proj.weight, m.up_proj.weight]).t().contiguous(),
                m.down_proj.weight.t().contiguous(),
            ))
        self.norm = model.model.norm.weight
        self.lm_head = model.lm_head.weight.t().contiguous()
        self.q_width = self.heads * self.head_dim
        self.kv_width = self.kv_heads * self.head_dim
        self.prompt_keys: list[torch.Tensor] = []
        self.prompt_keys_t: list[torch.Tensor] = []
        self.prompt_values: list[torch.Tensor] = []
        self.prompt_bias = torch.zeros(0)
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.prompt_of: torch.Tensor | None = None
        self.generated = 0
        self.extra = 0

    def _rms(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return weight * x.to(dtype)

    @staticmethod
    def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        half = x.shape[-1] // 2
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated * sin

    def _qkv(self, x: torch.Tensor, layer, cos, sin):
        b, t, _ = x.shape
        qkv = self._rms(x, layer[0]) @ layer[1]
        q = qkv[..., :self.q_width].view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = qkv[..., self.q_width:self.q_width + self.kv_width].view(b, t, self.kv_heads, self.head_dim)
        v = qkv[..., self.q_width + self.kv_width:].view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        return self._rotate(q, cos, sin), self._rotate(k.transpose(1, 2), cos, sin), v

    def _rest(self, x: torch.Tensor, attn: torch.Tensor, layer) -> torch.Tensor:
        x = x + attn @ layer[2]
        gate, up = (self._rms(x, layer[3]) @ layer[4]).chunk(2, dim=-1)
        return x + (F.silu(gate) * up) @ layer[5]

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._rms(x, self.norm) @ self.lm_head

    @torch.no_grad()
    def prefill(self, ids: torch.Tensor, attention: torch.Tensor, extra: int) -> torch.Tensor:
        """Left-padded distinct prompts `ids` [P, T] with their attention mask [P, T] (0 on padding); room
        for `extra` generated tokens per row. Returns the logits of each prompt's last position [P, vocab]."""
        p, t = ids.shape
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        causal = torch.ones((t, t), dtype=torch.bool, device=ids.device).tril()
        # A padding position may attend to itself, so that no row of the softmax is empty (no NaN anywhere).
        mask = causal & (attention.bool()[:, None, None, :] | torch.eye(t, dtype=torch.bool, device=ids.device))
        x = F.embedding(ids, self.embed)
        cos, sin = self.rotary(x, positions)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        self.prompt_keys, self.prompt_keys_t, self.prompt_values = [], [], []
        for layer in self.layers:
            q, k, v = self._qkv(x, layer, cos, sin)
            self.prompt_keys.append(k)
            # Contiguous, as every step's batched matmul reads it: stored as the transposed view, each step
            # copied the prompts' values again (the same numbers either way).
            self.prompt_values.append(v.contiguous())
            attn = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=self.group > 1)
            x = self._rest(x, attn.transpose(1, 2).reshape(p, t, self.q_width), layer)
        bias = torch.zeros(attention.shape, dtype=x.dtype, device=ids.device)
        self.prompt_bias = bias.masked_fill_(attention == 0, float("-inf"))
        self.prompt_of, self.generated, self.extra = None, 0, extra
        return self._logits(x[:, -1])

    def select(self, rows: torch.Tensor) -> None:
        """The first call after `prefill`: row i samples from prompt rows[i]. Later calls: keep these rows."""
        if self.prompt_of is None:
            b = len(rows)
            shape = (b, self.kv_heads, self.extra, self.head_dim)
            dtype, device = self.prompt_keys[0].dtype, rows.device
            self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in self.layers]
            self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in self.layers]
            prompt_of = rows
        else:
            self.keys = [k.index_select(0, rows) for k in self.keys]
            self.values = [v.index_select(0, rows) for v in self.values]
            prompt_of = self.prompt_of[rows]
        kept, prompt_of = torch.unique_consecutive(prompt_of, return_inverse=True)
        if len(kept) < len(self.prompt_bias):  # prompts whose rows all finished are no longer read
            self.prompt_keys = [k.index_select(0, kept) for k in self.prompt_keys]
            self.prompt_keys_t = [k.index_select(0, kept) for k in self.prompt_keys_t]
            self.prompt_values = [v.index_select(0, kept) for v in self.prompt_values]
            self.prompt_bias = self.prompt_bias.index_select(0, kept)
        self.prompt_of = prompt_of
        counts = torch.bincount(prompt_of, minlength=len(kept))
        self.slot = torch.arange(len(prompt_of), device=rows.device) - (counts.cumsum(0) - counts)[prompt_of]
        self.width = int(counts.max())
        if self.width * self.group >= BMM_ROWS and not self.prompt_keys_t:
            self.prompt_keys_t = [k.transpose(-1, -2).contiguous() for k in self.prompt_keys]

    def _attend(self, q: torch.Tensor, i: int) -> torch.Tensor:
        """Attention of one new query per row [B, H, D] over its prompt (shared) and its own generated tokens."""
        b = q.shape[0]
        p, t = self.prompt_bias.shape
        g = self.generated + 1
        qh = q.view(b, self.kv_heads, self.group, self.head_dim)
        grouped = q.new_zeros((p, self.width, self.kv_heads, self.group, self.head_dim))
        grouped[self.prompt_of, self.slot] = qh
        if self.width * self.group >= BMM_ROWS:
            scores_p = prompt_scores(grouped, self.prompt_keys_t[i])[self.prompt_of, self.slot]
        else:
            scores_p = torch.einsum("pchrd,phtd->pchrt", grouped, self.prompt_keys[i])[self.prompt_of, self.slot]
        scores_p = scores_p + self.prompt_bias[self.prompt_of][:, None, None, :]
        scores_g = torch.einsum("bhrd,bhtd->bhrt", qh, self.keys[i][:, :, :g])
        probs = torch.softmax(torch.cat([scores_p, scores_g], dim=-1) * self.scale, dim=-1)
        spread = probs.new_zeros((p, self.width, self.kv_heads, self.group, t))
        spread[self.prompt_of, self.slot] = probs[..., :t]
        out = torch.einsum("pchrt,phtd->pchrd", spread, self.prompt_values[i])[self.prompt_of, self.slot]
        out = out + torch.einsum("bhrt,bhtd->bhrd", probs[..., t:], self.values[i][:, :, :g])
        return out.reshape(b, self.q_width)

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, positions: torch.Tensor, attention: torch.Tensor | None = None) -> torch.Tensor:
        """One new token per row [B] at `positions` [B]; the next logits [B, vocab]. (`attention` is implied
        by the prompts' padding and is ignored.)"""
        x = F.embedding(tokens[:, None], self.embed)
        cos, sin = self.rotary(x, positions[:, None])
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        for i, layer in enumerate(self.layers):
            q, k, v = self._qkv(x, layer, cos, sin)
            self.keys[i][:, :, self.generated] = k[:, :, 0]
            self.values[i][:, :, self.generated] = v[:, :, 0]
            x = self._rest(x, self._attend(q[:, :, 0], i)[:, None], layer)
        self.generated += 1
        return self._logits(x[:, 0])

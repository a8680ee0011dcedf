"""A decode-only forward pass for Llama-architecture models, for sampling on a CPU.

The tiny embedded model needs about 2 MFLOP per token, so transformers' module machinery (masks
rebuilt every step, a cache object per layer, dozens of small modules) costs far more than the
arithmetic. This runs the same weights (read from the loaded LlamaForCausalLM, so the numbers are
the model's own: same RMSNorm, rotary embedding, SwiGLU) with the query/key/value and gate/up
projections fused into one matrix each and a preallocated key/value buffer per layer. Models that
are not a plain Llama (biases, q/k norms, sliding windows, other activations) use transformers'
forward instead (`supports`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
    """The forward pass of a LlamaForCausalLM over a batch of rows that share one key/value length."""

    def __init__(self, model):
        c = model.config
        self.model = model
        self.eps = c.rms_norm_eps
        self.heads = c.num_attention_heads
        self.kv_heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
        self.head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
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
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.length = 0

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

    def _forward(self, ids: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states of the new tokens `ids` [B, T] at `positions` [B, T]; their keys and values are written
        at columns length..length+T of the buffers; `mask` [B, 1, T, length+T] says what each may attend to."""
        b, t = ids.shape
        x = F.embedding(ids, self.embed)
        cos, sin = self.rotary(x, positions)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        end = self.length + t
        for i, (ln1, qkv_w, o_w, ln2, gu_w, down_w) in enumerate(self.layers):
            h = self._rms(x, ln1)
            qkv = h @ qkv_w
            q = qkv[..., :self.q_width].view(b, t, self.heads, self.head_dim).transpose(1, 2)
            k = qkv[..., self.q_width:self.q_width + self.kv_width].view(b, t, self.kv_heads, self.head_dim)
            v = qkv[..., self.q_width + self.kv_width:].view(b, t, self.kv_heads, self.head_dim)
            q = self._rotate(q, cos, sin)
            self.keys[i][:, :, self.length:end] = self._rotate(k.transpose(1, 2), cos, sin)
            self.values[i][:, :, self.length:end] = v.transpose(1, 2)
            attn = F.scaled_dot_product_attention(q, self.keys[i][:, :, :end], self.values[i][:, :, :end],
                                                  attn_mask=mask, enable_gqa=self.kv_heads != self.heads)
            x = x + attn.transpose(1, 2).reshape(b, t, self.q_width) @ o_w
            h = self._rms(x, ln2)
            gate, up = (h @ gu_w).chunk(2, dim=-1)
            x = x + (F.silu(gate) * up) @ down_w
        self.length = end
        return x

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return self._rms(x, self.norm) @ self.lm_head

    @torch.no_grad()
    def prefill(self, ids: torch.Tensor, attention: torch.Tensor, extra: int) -> torch.Tensor:
        """Left-padded prompts `ids` [B, T] with their attention mask [B, T] (0 on padding); room for `extra`
        more tokens. Returns the logits of each row's last position [B, vocab]."""
        b, t = ids.shape
        dtype = self.embed.dtype
        self.keys = [ids.new_zeros((b, self.kv_heads, t + extra, self.head_dim), dtype=dtype) for _ in self.layers]
        self.values = [torch.zeros_like(k) for k in self.keys]
        self.length = 0
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        causal = torch.ones((t, t), dtype=torch.bool, device=ids.device).tril()
        keys = attention.bool()[:, None, None, :]
        # A padding position may attend to itself, so that no row of the softmax is empty (no NaN anywhere).
        mask = causal & (keys | torch.eye(t, dtype=torch.bool, device=ids.device))
        x = self._forward(ids, positions, mask)
        return self._logits(x[:, -1])

    @torch.no_grad()
    def step(self, tokens: torch.Tensor, positions: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """One new token per row [B] at `positions` [B]; `attention` [B, length+1] (1: attend). Next logits."""
        mask = attention.bool()[:, None, None, :]
        return self._logits(self._forward(tokens[:, None], positions[:, None], mask)[:, 0])

    def select(self, rows: torch.Tensor) -> None:
        """Keep only these rows (in this order) of the key/value buffers."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]

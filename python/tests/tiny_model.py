"""The tiny model both sides of the end-to-end test build: a 2-layer MLP in bf16."""
import torch
from torch import nn


class TinyMLP(nn.Module):
    def __init__(self, d_in=16, d_hidden=64, d_out=8):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.norm = nn.LayerNorm(d_hidden)
        self.fc2 = nn.Linear(d_hidden, d_out)
        self.register_buffer("scale", torch.ones(d_out))  # a persistent buffer, loaded too

    def forward(self, x):
        return self.fc2(nn.functional.gelu(self.norm(self.fc1(x)))) * self.scale


def make(seed: int) -> TinyMLP:
    torch.manual_seed(seed)
    return TinyMLP().to(torch.bfloat16)


def fixed_input() -> torch.Tensor:
    g = torch.Generator().manual_seed(1234)
    return torch.randn(4, 16, generator=g).to(torch.bfloat16)


def encode(t: torch.Tensor) -> dict:
    """A tensor as JSON, bit for bit."""
    t = t.detach().contiguous()
    return {"dtype": str(t.dtype), "shape": list(t.shape), "hex": t.reshape(-1).view(torch.uint8).numpy().tobytes().hex()}


def decode(d: dict) -> torch.Tensor:
    dtype = getattr(torch, d["dtype"].split(".")[-1])
    raw = bytearray.fromhex(d["hex"])
    return torch.frombuffer(raw, dtype=dtype).reshape(d["shape"]).clone()

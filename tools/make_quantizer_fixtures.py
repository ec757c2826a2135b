"""Quantizer fixtures: the reference code's quantizers, reimplemented in torch, on small tensors.

The RepQ-ViT reference code simulates quantization in float. This script reimplements its two
quantizers exactly as ../shared/REFERENCE.md (section 1) describes them, in the reference's own
torch operations, so that the Rust quantizers (src/quant/quantizer/) can be checked against them:

* UniformQuantizer: `init_quantization_scale` tries p in (0.999, 0.9999, 0.99999):
  `max = torch.quantile(x, p)`, `min = torch.quantile(x, 1 - p)`, `delta = (max - min) / (2^b - 1)`,
  `zero_point = (-min / delta).round()`, and keeps the lowest `(x - x_q).abs().pow(2).mean()`
  (strict `<`, starting from 1e10). Channel-wise: one search per channel, over `x[:, :, c]` for a
  3-D activation and over `x[c]` (one output row) for a 2-D weight. Forward:
  `clamp(round(x / delta) + zero_point, 0, 2^b - 1)`, then `(q - zero_point) * delta`.
* LogSqrt2Quantizer: `delta = quantile(x, p)` by the same search (starting from `x.max()`);
  `x_int = round(-1 * (x / delta).log2() * 2)`, `mask = x_int >= 2^b`,
  `x_quant = clamp(x_int, 0, 2^b - 1)`, `odd = (x_quant % 2) * (sqrt(2) - 1) + 1`,
  `out = 2 ** (-1 * ceil(x_quant / 2)) * odd * delta`, `out[mask] = 0`.

Plus, not from the reference, the symmetric signed per-row weight quantizer that repq-hw offers as
a deviation (narrow range, max(|q(p)|, |q(1-p)|) / (2^(b-1) - 1) candidates, same search).

Produces tests/fixtures/quantizers/quantizers.safetensors (float32 unless noted), for each case
NAME and bit width B:

    NAME.x                  input
    NAME.bB.delta           chosen scale(s): [1] per tensor, [C] channel-wise, [rows] per row
    NAME.bB.zero_point      chosen zero point(s) (uniform only)
    NAME.bB.out             fake-quantized output (the forward pass after initialisation)
    NAME.bB.scores          the three candidates' MSE as torch computed them ([3] or [groups, 3])

    act_pt     [96, 64]       Gaussian with 0.3% outliers of 6-25 sigma; uniform per tensor, B = 4, 8
    act_cw     [4, 64, 16]    Gaussian, per-channel scale spread x0.3..x8, outliers; uniform
                              channel-wise (3-D reference path, one search per x[:, :, c]), B = 4
    weight     [32, 64]       Gaussian * 0.05 with outliers; uniform per output row (2-D path), B = 4
    weight_sym [32, 64]       the same weight; symmetric signed per row (repq-hw deviation), B = 4
    attn       [2, 3, 24, 24] softmax rows (rows sum to 1); log-sqrt2, B = 4, 8
    edge       [320]          hand-picked probabilities (0, subnormals, 1e-38 .. 1, just above and
                              below the zero boundary, above delta) quantized log-sqrt2 with a FIXED
                              delta = 0.75 (no search), B = 4, 8: exercises the exact-zero rule,
                              the clamp at 0 and the subnormal levels 2^-127, 2^-128 at 8 bits

    quantile.ps             float64 [12]: p values (the six of the search, then 0, 0.1, 0.37, 0.5, 0.9, 1)
    quantile.SRC            torch.quantile(SRC, p) for each p, SRC = act_pt, act_cw, weight, attn, edge
                            (flattened) and act_pt_prefixN (the first N values of act_pt, N = 1 .. 1001)

Run from anywhere, with the `python` of a virtual environment made with tools/requirements.txt:

    python tools/make_quantizer_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import math
import pathlib

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
PERCENTILES = [0.999, 0.9999, 0.99999]


def lp_loss(pred: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
    """The reference's lp_loss(pred, tgt, p=2, reduction='all')."""
    return (pred - tgt).abs().pow(2.0).mean()


class UniformQuantizer:
    """Asymmetric uniform quantizer, as the reference code initialises and runs it."""

    def __init__(self, n_bits: int, channel_wise: bool):
        self.n_bits = n_bits
        self.n_levels = 2**n_bits
        self.channel_wise = channel_wise
        self.delta = None
        self.zero_point = None
        self.scores = []  # per search: the three candidates' scores

    def quantize(self, x, max, min):
        delta = (max - min) / (2**self.n_bits - 1)
        zero_point = (-min / delta).round()
        x_int = torch.round(x / delta)
        x_quant = torch.clamp(x_int + zero_point, 0, self.n_levels - 1)
        return (x_quant - zero_point) * delta

    def init_quantization_scale(self, x: torch.Tensor, channel_wise: bool):
        if channel_wise:
            x_clone = x.clone().detach()
            n_channels = x_clone.shape[-1] if len(x.shape) == 3 else x_clone.shape[0]
            delta = torch.zeros(n_channels, dtype=x.dtype)
            zero_point = torch.zeros(n_channels, dtype=x.dtype)
            for c in range(n_channels):
                xc = x_clone[:, :, c] if len(x.shape) == 3 else x_clone[c]
                delta[c], zero_point[c] = self.init_quantization_scale(xc, channel_wise=False)
            if len(x.shape) == 2:
                return delta.view(-1, 1), zero_point.view(-1, 1)
            return delta.view(1, 1, -1), zero_point.view(1, 1, -1)
        x_clone = x.clone().detach()
        best_score = 1e10
        delta = zero_point = None
        scores = []
        for pct in PERCENTILES:
            new_max = torch.quantile(x_clone.reshape(-1), pct)
            new_min = torch.quantile(x_clone.reshape(-1), 1.0 - pct)
            x_q = self.quantize(x_clone, new_max, new_min)
            score = lp_loss(x_clone, x_q)
            scores.append(score.item())
            if score < best_score:
                best_score = score
                delta = (new_max - new_min) / (2**self.n_bits - 1)
                zero_point = (-new_min / delta).round()
        self.scores.append(scores)
        return delta, zero_point

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.delta is None:
            self.delta, self.zero_point = self.init_quantization_scale(x, self.channel_wise)
        x_int = torch.round(x / self.delta) + self.zero_point
        x_quant = torch.clamp(x_int, 0, self.n_levels - 1)
        return (x_quant - self.zero_point) * self.delta


class LogSqrt2Quantizer:
    """log-sqrt2 quantizer of post-Softmax activations, as the reference code runs it."""

    def __init__(self, n_bits: int, delta: float | None = None):
        self.n_bits = n_bits
        self.n_levels = 2**n_bits
        self.delta = None if delta is None else torch.tensor(delta, dtype=torch.float32)
        self.scores = []

    def init_quantization_scale(self, x: torch.Tensor) -> torch.Tensor:
        x_clone = x.clone().detach()
        delta = x_clone.max()
        best_score = 1e10
        scores = []
        for pct in PERCENTILES:
            new_delta = torch.quantile(x_clone.reshape(-1), pct)
            x_q = self.quantize(x_clone, new_delta)
            score = lp_loss(x_clone, x_q)
            scores.append(score.item())
            if score < best_score:
                best_score = score
                delta = new_delta
        self.scores.append(scores)
        return delta

    def quantize(self, x, delta):
        x_int = torch.round(-1 * (x / delta).log2() * 2)
        mask = x_int >= self.n_levels
        x_quant = torch.clamp(x_int, 0, self.n_levels - 1)
        odd_mask = (x_quant % 2) * (math.sqrt(2) - 1) + 1
        x_float_q = 2 ** (-1 * torch.ceil(x_quant / 2)) * odd_mask * delta
        x_float_q[mask] = 0
        return x_float_q

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.delta is None:
            self.delta = self.init_quantization_scale(x)
        return self.quantize(x, self.delta)


def symmetric_per_row(w: torch.Tensor, n_bits: int):
    """repq-hw's symmetric signed per-row weight quantizer (not in the reference code)."""
    qmax = 2 ** (n_bits - 1) - 1
    deltas, scores_all = [], []
    for row in w:
        best, best_delta, scores = 1e10, None, []
        for pct in PERCENTILES:
            hi = torch.quantile(row, pct)
            lo = torch.quantile(row, 1.0 - pct)
            delta = torch.maximum(hi.abs(), lo.abs()) / qmax
            x_q = torch.clamp(torch.round(row / delta), -qmax, qmax) * delta
            score = lp_loss(row, x_q)
            scores.append(score.item())
            if score < best:
                best, best_delta = score, delta
        deltas.append(best_delta)
        scores_all.append(scores)
    delta = torch.stack(deltas).view(-1, 1)
    out = torch.clamp(torch.round(w / delta), -qmax, qmax) * delta
    return delta.view(-1), out, torch.tensor(scores_all, dtype=torch.float64)


def outliers(x: torch.Tensor, frac: float, lo: float, hi: float, g: torch.Generator) -> torch.Tensor:
    mask = torch.rand(x.shape, generator=g) < frac
    mag = lo + (hi - lo) * torch.rand(x.shape, generator=g)
    return torch.where(mask, torch.sign(x) * mag * x.abs().mean() / 0.8, x)


def edge_values() -> torch.Tensor:
    delta = 0.75
    vals = [0.0, 1e-45, 1e-44, 3e-42, 1.17e-38, 1.2e-38, 2.0**-126, 2.0**-127 * delta, 2.0**-128 * delta]
    # every log-sqrt2 level of delta at 8 bits, nudged by +-1 ulp (codes 0..255 and around them)
    for q in list(range(0, 240, 3)) + list(range(240, 256)):
        v = torch.tensor(2.0 ** (-q / 2) * delta, dtype=torch.float32)
        vals += [v.item(), torch.nextafter(v, torch.tensor(0.0)).item()]
    # around the exact-zero boundaries at 4 bits (raw 15.5) and 8 bits (raw 255.5)
    for raw in (15.5, 255.5):
        c = 2.0 ** (-raw / 2) * delta
        vals += [c * f for f in (0.999, 0.9999999, 1.0, 1.0000001, 1.001)]
    vals += [delta, 0.76, 1.0, 2.0, 1e-3, 0.3, 0.5, 0.0625, 0.00390625]
    x = torch.tensor(vals, dtype=torch.float32)
    g = torch.Generator().manual_seed(7)
    fill = torch.exp(-torch.rand(320 - x.numel(), generator=g) * 90.0)  # 1 .. 8e-40
    return torch.cat([x, fill.float()])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "tests/fixtures/quantizers")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(20240607)
    t: dict[str, torch.Tensor] = {}

    def put_uniform(name: str, x: torch.Tensor, bits: int, channel_wise: bool) -> None:
        q = UniformQuantizer(bits, channel_wise)
        out = q(x)
        t[f"{name}.b{bits}.delta"] = q.delta.reshape(-1).clone()
        t[f"{name}.b{bits}.zero_point"] = q.zero_point.reshape(-1).clone()
        t[f"{name}.b{bits}.out"] = out
        t[f"{name}.b{bits}.scores"] = torch.tensor(q.scores, dtype=torch.float64).squeeze(0)

    def put_log(name: str, x: torch.Tensor, bits: int, delta: float | None = None) -> None:
        q = LogSqrt2Quantizer(bits, delta)
        out = q(x)
        t[f"{name}.b{bits}.delta"] = q.delta.reshape(1).clone()
        t[f"{name}.b{bits}.out"] = out
        if q.scores:
            t[f"{name}.b{bits}.scores"] = torch.tensor(q.scores[0], dtype=torch.float64)

    act_pt = outliers(torch.randn(96, 64, generator=g), 0.003, 6.0, 25.0, g)
    t["act_pt.x"] = act_pt
    for bits in (4, 8):
        put_uniform("act_pt", act_pt, bits, channel_wise=False)

    spread = 0.3 + 7.7 * torch.rand(16, generator=g) ** 2
    act_cw = outliers(torch.randn(4, 64, 16, generator=g) * spread + 0.5 * torch.randn(16, generator=g), 0.003, 4.0, 12.0, g)
    t["act_cw.x"] = act_cw
    put_uniform("act_cw", act_cw, 4, channel_wise=True)

    weight = outliers(torch.randn(32, 64, generator=g) * 0.05, 0.004, 4.0, 10.0, g)
    t["weight.x"] = weight
    put_uniform("weight", weight, 4, channel_wise=True)
    delta, out, scores = symmetric_per_row(weight, 4)
    t["weight_sym.b4.delta"], t["weight_sym.b4.out"], t["weight_sym.b4.scores"] = delta, out, scores

    scores = torch.randn(2, 3, 24, 24, generator=g) * 2.0
    scores[..., ::7] += 5.0
    attn = torch.softmax(scores, dim=-1)
    t["attn.x"] = attn
    for bits in (4, 8):
        put_log("attn", attn, bits)

    edge = edge_values()
    t["edge.x"] = edge
    for bits in (4, 8):
        put_log("edge", edge, bits, delta=0.75)

    # torch.quantile itself, on the inputs above and on prefixes of act_pt (no extra inputs stored)
    ps = [0.999, 1.0 - 0.999, 0.9999, 1.0 - 0.9999, 0.99999, 1.0 - 0.99999, 0.0, 0.1, 0.37, 0.5, 0.9, 1.0]
    t["quantile.ps"] = torch.tensor(ps, dtype=torch.float64)
    flat = act_pt.reshape(-1)
    sources = {f"act_pt_prefix{n}": flat[:n] for n in (1, 2, 3, 5, 10, 17, 100, 1001)}
    sources.update({k: t[f"{k}.x"].reshape(-1) for k in ("act_pt", "act_cw", "weight", "attn", "edge")})
    for k, v in sources.items():
        t[f"quantile.{k}"] = torch.stack([torch.quantile(v, p) for p in ps])

    t = {k: v.contiguous() for k, v in t.items()}
    path = args.out / "quantizers.safetensors"
    save_file(t, str(path))
    print(f"{path}: {path.stat().st_size} bytes, {len(t)} tensors")
    for k in sorted(t):
        if k.endswith(".delta") or k.endswith(".zero_point"):
            v = t[k]
            print(f"  {k:24s} {tuple(v.shape)} {v[:4].tolist()}")
    (args.out / "README.md").write_text(
        "quantizers.safetensors: inputs, chosen scales / zero points, fake-quantized outputs and\n"
        "candidate scores of the RepQ-ViT reference quantizers (UniformQuantizer per tensor,\n"
        "channel-wise and per output row; LogSqrt2Quantizer) reimplemented in torch, plus repq-hw's\n"
        "symmetric per-row weight quantizer. Generated by tools/make_quantizer_fixtures.py (see its\n"
        "docstring for the tensor list); checked by src/quant/quantizer/torch_fixture.rs.\n"
    )


if __name__ == "__main__":
    main()

"""Forward-parity fixtures for timm's SwinTransformer (v1): random checkpoints plus their logits.

Produces tests/fixtures/swin/ (relative to the repository root), one directory per model:

    tiny/model.safetensors   swin_tiny's topology (patch 4, window 7, depths 2-2-6-2, 224 px) at
                             embed_dim 16, heads (1, 2, 4, 8), 10 classes, float16 weights,
                             saved in timm's hub layout beside
    tiny/config.json         the config.json timm's `push_to_hub` writes (architecture,
                             num_classes, num_features, global_pool, model_args,
                             pretrained_cfg), so the loader reads it as it reads a hub download
    odd/odd.pth              a non-default SwinTransformer as a PyTorch state dict (bfloat16):
                             img 40x56, patch 2, window 5 (so stage grids 20x28, 10x14, 5x7 need
                             padding, and the last stage shifts along W only), depths (2, 3, 2),
                             embed_dim 12, heads (2, 3, 4), head_dim 8 (attention width differs
                             from the token width), mlp_ratio 3, no qkv bias, 7 classes
    odd/odd.toml             its sidecar: what the shapes cannot tell (input size, LayerNorm
                             epsilon, pooling, preprocessing)
    NAME_io.safetensors      `input` f32 [B, C, H, W] (standard normal) and `logits` f32
                             [B, classes]: timm's forward in float32 on the weights AS STORED
                             (rounded to the stored dtype and back)

Randomization (no parameter trivial, attention not near-uniform): every Linear/Conv weight
N(0, gain^2 / fan_in) (gain 1.5 for attn.qkv, 1 elsewhere), biases 0.02 N(0, 1), LayerNorm
weight 1 + 0.1 N(0, 1) and bias 0.05 N(0, 1), relative_position_bias_table 0.5 N(0, 1) (so the
bias visibly moves the scores). The attention runs timm's unfused path (q scaled, q k^T, bias,
mask, softmax), which the script checks against the fused path and a float64 forward. Seeds are
fixed, so re-running reproduces the files (on the same torch build).

Run with the `python` of a virtual environment made with tools/requirements.txt:

    python tools/make_swin_parity_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import timm
import torch
from safetensors.torch import save_file
from timm.models.swin_transformer import SwinTransformer

ROOT = pathlib.Path(__file__).resolve().parent.parent


@torch.no_grad()
def randomize(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)

    def randn(shape):
        return torch.randn(shape, generator=g)

    for mod_name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Linear, torch.nn.Conv2d)):
            fan_in = mod.weight[0].numel()
            gain = 1.5 if mod_name.endswith("attn.qkv") else 1.0
            mod.weight.copy_(randn(mod.weight.shape) * gain / fan_in**0.5)
            if mod.bias is not None:
                mod.bias.copy_(0.02 * randn(mod.bias.shape))
        elif isinstance(mod, torch.nn.LayerNorm):
            mod.weight.copy_(1.0 + 0.1 * randn(mod.weight.shape))
            mod.bias.copy_(0.05 * randn(mod.bias.shape))
    for name, p in model.named_parameters():
        if name.endswith("relative_position_bias_table"):
            p.copy_(0.5 * randn(p.shape))
    for name, mod in model.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            full = f"{name}.{pname}" if name else pname
            ok = pname == "relative_position_bias_table" or isinstance(
                mod, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.LayerNorm)
            )
            assert ok, f"parameter {full} ({type(mod).__name__}) not randomized"


def round_to(model: torch.nn.Module, dtype: torch.dtype) -> None:
    with torch.no_grad():
        for t in model.parameters():
            t.copy_(t.to(dtype).to(torch.float32))


def set_fused(model: torch.nn.Module, fused: bool) -> None:
    for m in model.modules():
        if hasattr(m, "fused_attn"):
            m.fused_attn = fused


def build(name: str):
    if name == "tiny":
        model = timm.create_model(
            "swin_tiny_patch4_window7_224", pretrained=False, embed_dim=16,
            num_heads=(1, 2, 4, 8), num_classes=10,
        )
        return model, torch.float16, 2
    if name == "odd":
        model = SwinTransformer(
            img_size=(40, 56), patch_size=2, in_chans=3, num_classes=7, embed_dim=12,
            depths=(2, 3, 2), num_heads=(2, 3, 4), head_dim=8, window_size=5, mlp_ratio=3.0,
            qkv_bias=False,
        )
        return model, torch.bfloat16, 3
    raise ValueError(name)


def write_config_json(path: pathlib.Path, model: torch.nn.Module) -> None:
    """What timm's `save_for_hf` writes for a swin_tiny with these keyword arguments."""
    data = timm.data.resolve_model_data_config(model)
    cfg = {
        "architecture": "swin_tiny_patch4_window7_224",
        "num_classes": model.num_classes,
        "num_features": model.num_features,
        "global_pool": model.global_pool,
        "model_args": {"embed_dim": 16, "num_heads": [1, 2, 4, 8], "num_classes": 10},
        "pretrained_cfg": {
            "tag": "ms_in1k",
            "custom_load": False,
            "input_size": list(data["input_size"]),
            "fixed_input_size": True,
            "interpolation": data["interpolation"],
            "crop_pct": data["crop_pct"],
            "crop_mode": data["crop_mode"],
            "mean": list(data["mean"]),
            "std": list(data["std"]),
            "num_classes": 1000,
            "pool_size": [7, 7],
            "first_conv": "patch_embed.proj",
            "classifier": "head.fc",
        },
    }
    path.write_text(json.dumps(cfg, indent=2) + "\n")


def write_sidecar(path: pathlib.Path, model: torch.nn.Module) -> None:
    h, w = model.patch_embed.img_size
    data = timm.data.resolve_model_data_config(model)
    floats = lambda v: "[" + ", ".join(repr(float(x)) for x in v) + "]"
    eps = model.layers[0].blocks[0].norm1.eps
    lines = [
        f"img_size = [{h}, {w}]",
        f"layer_norm_eps = {eps!r}",
        f'global_pool = "{model.global_pool}"',
        f"mean = {floats(data['mean'])}",
        f"std = {floats(data['std'])}",
        f"crop_pct = {data['crop_pct']!r}",
        f'crop_mode = "{data["crop_mode"]}"',
        f'interpolation = "{data["interpolation"]}"',
    ]
    path.write_text("\n".join(lines) + "\n")


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "tests/fixtures/swin")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    for seed, name in enumerate(["tiny", "odd"], start=1):
        torch.manual_seed(3000 + seed)
        model, dtype, batch = build(name)
        model.eval()
        randomize(model, seed=100 + seed)
        round_to(model, dtype)
        set_fused(model, False)

        d = args.out / name
        d.mkdir(parents=True, exist_ok=True)
        sd = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
        if name == "tiny":
            save_file(sd, str(d / "model.safetensors"))
            write_config_json(d / "config.json", model)
        else:
            torch.save(sd, d / f"{name}.pth")
            write_sidecar(d / f"{name}.toml", model)

        img_size = model.patch_embed.img_size
        g = torch.Generator().manual_seed(4000 + seed)
        x = torch.randn((batch, 3, *img_size), generator=g, dtype=torch.float32)
        logits = model(x).float().contiguous()

        set_fused(model, True)
        fused = model(x)
        set_fused(model, False)
        f64 = model.double()(x.double())
        model.float()

        save_file({"input": x.contiguous(), "logits": logits}, str(args.out / f"{name}_io.safetensors"))
        nparams = sum(p.numel() for p in model.parameters())
        shifts = [tuple(b.shift_size) for s in model.layers for b in s.blocks]
        wins = [tuple(b.window_size) for s in model.layers for b in s.blocks]
        print(f"{name}: params={nparams} dtype={dtype} img={tuple(img_size)} "
              f"logits={tuple(logits.shape)} max|logit|={logits.abs().max():.4f} "
              f"std(logit)={logits.std():.4f}")
        print(f"  windows={wins}\n  shifts={shifts}")
        print(f"  max|fused-unfused|={(logits - fused).abs().max():.2e}; "
              f"max|f32-f64|={(logits.double() - f64).abs().max():.2e}")


if __name__ == "__main__":
    main()

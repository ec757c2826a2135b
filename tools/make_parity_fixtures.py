"""Forward-parity fixtures: random timm ViT/DeiT checkpoints plus their reference logits.

Produces tests/fixtures/parity/ (relative to the repository root):

    NAME.safetensors     model.state_dict() with timm's own tensor names, in the stored dtype
    NAME.toml            sidecar: `arch` for a registered timm model (deit_tiny), else what
                         shapes cannot tell (num_heads, layer_norm_eps, global_pool, img_size
                         when the image is not square) and timm's resolved preprocessing
    NAME_io.safetensors  `input`  f32 [B, C, H, W]  (standard normal)
                         `logits` f32 [B, classes]  (timm forward in float32 with the weights
                                                     AS STORED, i.e. rounded to the stored
                                                     dtype and cast back to float32)

Models (all in eval mode):

    deit_tiny       timm 'deit_tiny_patch16_224', float16 weights, B=2
    vit_odd         VisionTransformer(img_size=(48, 80), patch_size=8, num_classes=17,
                    embed_dim=120, depth=3, num_heads=5, mlp_ratio=3, qkv_bias=False),
                    bfloat16 weights, B=3
    deit_distilled  VisionTransformerDistilled(img_size=32, patch_size=8, embed_dim=64,
                    depth=2, num_heads=2, num_classes=10), float32 weights, B=2; in eval mode
                    timm returns (head(cls) + head_dist(dist)) / 2, which the script asserts.

Randomization (so that no parameter is trivial and attention is not near-uniform): every
Linear/Conv weight is redrawn N(0, gain^2 / fan_in) (gain 1.5 for attn.qkv so the softmax is
peaked, 1 elsewhere); every bias 0.02*N(0,1); LayerNorm weight 1 + 0.1*N(0,1), LayerNorm bias
0.05*N(0,1); cls_token, dist_token and pos_embed get timm's init plus N(0, 0.02) plus a
per-channel offset N(0, 0.1) so they are clearly non-zero. Seeds are fixed per model, so
re-running the script reproduces the files bit for bit (on the same torch build).

Run from anywhere, with the `python` of a virtual environment made with tools/requirements.txt:

    python tools/make_parity_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import pathlib

import torch
import timm
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import VisionTransformer
from safetensors.torch import save_file

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
    for name in ("cls_token", "dist_token", "pos_embed"):
        p = getattr(model, name, None)
        if p is not None:
            offset = 0.1 * randn((p.shape[-1],))
            p.add_(0.02 * randn(p.shape) + offset)

    # Everything in the state dict must have been touched by one of the rules above.
    known = {"cls_token", "dist_token", "pos_embed"}
    for name, mod in model.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            full = f"{name}.{pname}" if name else pname
            ok = full in known or isinstance(
                mod, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.LayerNorm)
            )
            assert ok, f"parameter {full} ({type(mod).__name__}) not randomized"


def round_to(model: torch.nn.Module, dtype: torch.dtype) -> None:
    """Round every float tensor of the model to `dtype` and back to float32, in place."""
    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.is_floating_point():
                t.copy_(t.to(dtype).to(torch.float32))


def write_sidecar(path: pathlib.Path, model: torch.nn.Module, arch: str | None) -> None:
    """The sidecar: the timm name when the model is a registered one (its table entry gives
    heads, epsilon, pooling and the preprocessing), else every field shapes cannot tell, with
    the preprocessing timm resolves for the model (resolve_model_data_config)."""
    if arch is not None:
        path.write_text(f'arch = "{arch}"\n')
        return
    h, w = model.patch_embed.img_size
    data = timm.data.resolve_model_data_config(model)
    floats = lambda v: "[" + ", ".join(repr(float(x)) for x in v) + "]"
    lines = [
        f"num_heads = {model.blocks[0].attn.num_heads}",
        f"layer_norm_eps = {model.blocks[0].norm1.eps!r}",
        f'global_pool = "{model.global_pool}"',
    ]
    if h != w:
        lines.append(f"img_size = [{h}, {w}]")
    # (data["input_size"] is timm's default 224 for these unregistered models; the input size
    # is the model's own, read off pos_embed or given as img_size above.)
    lines += [
        f"mean = {floats(data['mean'])}",
        f"std = {floats(data['std'])}",
        f"crop_pct = {data['crop_pct']!r}",
        f'crop_mode = "{data["crop_mode"]}"',
        f'interpolation = "{data["interpolation"]}"',
    ]
    path.write_text("\n".join(lines) + "\n")


def build(name: str) -> tuple[torch.nn.Module, torch.dtype, int]:
    if name == "deit_tiny":
        model = timm.create_model("deit_tiny_patch16_224", pretrained=False)
        return model, torch.float16, 2
    if name == "vit_odd":
        model = VisionTransformer(
            img_size=(48, 80), patch_size=8, in_chans=3, num_classes=17, embed_dim=120,
            depth=3, num_heads=5, mlp_ratio=3.0, qkv_bias=False,
        )
        return model, torch.bfloat16, 3
    if name == "deit_distilled":
        model = VisionTransformerDistilled(
            img_size=32, patch_size=8, embed_dim=64, depth=2, num_heads=2, num_classes=10
        )
        return model, torch.float32, 2
    raise ValueError(name)


MODELS = ["deit_tiny", "vit_odd", "deit_distilled"]
# Fixtures built by a registered timm name get that name in their sidecar.
TIMM_NAMES = {"deit_tiny": "deit_tiny_patch16_224"}


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "tests/fixtures/parity")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    for seed, name in enumerate(MODELS, start=1):
        torch.manual_seed(1000 + seed)
        model, dtype, batch = build(name)
        model.eval()
        randomize(model, seed=seed)
        round_to(model, dtype)  # the reference uses exactly what a loader will read

        sd = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
        save_file(sd, str(args.out / f"{name}.safetensors"))

        img_size = model.patch_embed.img_size
        num_heads = model.blocks[0].attn.num_heads
        write_sidecar(args.out / f"{name}.toml", model, TIMM_NAMES.get(name))

        g = torch.Generator().manual_seed(2000 + seed)
        x = torch.randn((batch, 3, *img_size), generator=g, dtype=torch.float32)
        logits = model(x).float().contiguous()

        fused = model.blocks[0].attn.fused_attn
        # Cross-checks: the unfused attention path and a float64 forward.
        for blk in model.blocks:
            blk.attn.fused_attn = False
        unfused = model(x)
        for blk in model.blocks:
            blk.attn.fused_attn = fused
        m64 = model.double()
        f64 = m64(x.double())
        model.float()

        extra = ""
        if isinstance(model, VisionTransformerDistilled):
            assert not model.distilled_training
            feats = model.forward_features(x)
            cls_logits = model.head(feats[:, 0])
            dist_logits = model.head_dist(feats[:, 1])
            avg = (cls_logits + dist_logits) / 2
            d = (avg - logits).abs().max().item()
            assert d == 0.0, d
            extra = (f"  eval output == (head(cls)+head_dist(dist))/2 exactly; "
                     f"|head-head_dist| max {(cls_logits - dist_logits).abs().max():.3f}")

        save_file({"input": x.contiguous(), "logits": logits},
                  str(args.out / f"{name}_io.safetensors"))
        nparams = sum(p.numel() for p in model.parameters())
        print(f"{name}: {type(model).__name__} params={nparams} dtype={dtype} "
              f"img={tuple(img_size)} heads={num_heads} logits={tuple(logits.shape)} "
              f"max|logit|={logits.abs().max():.4f} std(logit)={logits.std():.4f}")
        print(f"  fused SDPA={fused}; max|fused-unfused|={(logits - unfused).abs().max():.2e}; "
              f"max|f32-f64|={(logits.double() - f64).abs().max():.2e}")
        if extra:
            print(extra)


if __name__ == "__main__":
    main()

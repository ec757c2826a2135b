"""The table of timm model names this tool knows: src/model/timm_models.json.

For every architecture timm registers under `deit*` and `vit_*` that is built by timm's
VisionTransformer class (or its distilled subclass), the table records what a checkpoint's
tensor shapes cannot prove and what the loader checks them against:

    arch       the registered name, e.g. "deit_tiny_patch16_224"
    embed_dim, depth, num_heads, mlp_hidden, patch_size [h, w], img_size [h, w], in_chans,
    qkv_bias, class_token, distilled, global_pool, ln_eps (LayerNorm epsilon of the blocks)
    unsupported  null when the forward of this repository implements the architecture, else
                 the features it lacks, in words (LayerScale, register tokens, ...)
    default_tag  timm's default pretrained tag (the first registered), or null
    tags       {tag: {input_size [c, h, w], mean, std, crop_pct, crop_mode, interpolation,
                      num_classes}} for every pretrained tag registered

and, under `deprecated`, the old names timm still maps to `ARCH.TAG`
(timm.models.get_deprecated_models for vision_transformer and deit).

Each architecture is built on the `meta` device (no weights, no download) and inspected, so the
numbers are timm's own. Python floats are written with repr(), which round-trips.

Run from anywhere:

    python tools/make_timm_table.py [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import timm
import torch
from timm.layers import LayerScale
from timm.models.deit import VisionTransformerDistilled
from timm.models.vision_transformer import Block, VisionTransformer

ROOT = pathlib.Path(__file__).resolve().parent.parent


def attr(obj, path: str):
    """obj.a.b.c, or None where an attribute is missing (other block types)."""
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def is_identity(m) -> bool:
    return m is None or isinstance(m, torch.nn.Identity)


def unsupported_features(m: VisionTransformer) -> list[str]:
    """What this architecture has that the repository's ViT forward does not implement."""
    out = []
    blk = m.blocks[0]
    if m.cls_token is None:
        out.append("no class token")
    if getattr(m, "num_reg_tokens", 0):
        out.append(f"{m.num_reg_tokens} register tokens")
    if m.global_pool != "token":
        out.append(f"global_pool '{m.global_pool}' (only 'token' is implemented)")
    if not is_identity(getattr(m, "fc_norm", None)):
        out.append("fc_norm")
    if not is_identity(getattr(m, "norm_pre", None)):
        out.append("pre-norm (norm_pre)")
    if getattr(m, "no_embed_class", False):
        out.append("position embedding without the class token (no_embed_class)")
    if getattr(m, "pos_embed", None) is None:
        out.append("no learned position embedding")
    if getattr(m, "attn_pool", None) is not None:
        out.append("attention pooling")
    if getattr(m, "dynamic_img_size", False):
        out.append("dynamic image size")
    if not is_identity(getattr(m.patch_embed, "norm", None)):
        out.append("patch embedding norm")
    if type(m.patch_embed).__name__ != "PatchEmbed" or not isinstance(
            getattr(m.patch_embed, "proj", None), torch.nn.Conv2d):
        out.append(f"patch embedding {type(m.patch_embed).__name__} (hybrid backbone)")
    if type(blk) is not Block:
        out.append(f"block type {type(blk).__name__}")
    else:
        if isinstance(blk.ls1, LayerScale) or isinstance(blk.ls2, LayerScale):
            out.append("LayerScale")
        attn = blk.attn
        if not (is_identity(getattr(attn, "q_norm", None))
                and is_identity(getattr(attn, "k_norm", None))):
            out.append("qk_norm")
        if not is_identity(getattr(attn, "norm", None)):
            out.append("attention output norm")
        mlp = blk.mlp
        if type(mlp).__name__ != "Mlp":
            out.append(f"MLP type {type(mlp).__name__}")
        else:
            if not is_identity(getattr(mlp, "norm", None)):
                out.append("MLP norm")
            act = mlp.act
            if not (isinstance(act, torch.nn.GELU) and act.approximate == "none"):
                out.append(f"activation {act!r} (only exact GELU is implemented)")
        for n in ("norm1", "norm2"):
            norm = getattr(blk, n)
            if not isinstance(norm, torch.nn.LayerNorm):
                out.append(f"{n} type {type(norm).__name__}")
    if not isinstance(m.norm, torch.nn.LayerNorm):
        out.append(f"final norm type {type(m.norm).__name__}")
    return out


def tag_entry(cfg) -> dict:
    return {
        "input_size": list(cfg.input_size),
        "mean": list(cfg.mean),
        "std": list(cfg.std),
        "crop_pct": cfg.crop_pct,
        "crop_mode": cfg.crop_mode,
        "interpolation": cfg.interpolation,
        "num_classes": cfg.num_classes,
    }


def pair(v) -> list[int]:
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "src/model/timm_models.json")
    args = ap.parse_args()

    from timm.models._registry import _model_default_cfgs

    entries = []
    skipped = []
    for name in timm.list_models(["deit*", "vit_*"]):
        try:
            with torch.device("meta"):
                m = timm.create_model(name, pretrained=False)
        except Exception as e:  # noqa: BLE001 - reported below, never silently
            skipped.append(f"{name}: cannot build on meta ({type(e).__name__}: {e})")
            continue
        if not isinstance(m, VisionTransformer):
            skipped.append(f"{name}: class {type(m).__name__}, not VisionTransformer")
            continue
        blk = m.blocks[0]
        norm1 = getattr(blk, "norm1", None)
        default = _model_default_cfgs.get(name)
        cfgs = timm.models.get_arch_pretrained_cfgs(name)
        tags = {}
        for full, cfg in sorted(cfgs.items()):
            _, tag = full.split(".", 1)
            tags[tag] = tag_entry(cfg)
        unsupported = unsupported_features(m)
        qkv = attr(blk, "attn.qkv")
        entries.append({
            "arch": name,
            "embed_dim": m.embed_dim,
            "depth": len(m.blocks),
            "num_heads": attr(blk, "attn.num_heads"),
            "mlp_hidden": attr(blk, "mlp.fc1.out_features"),
            "patch_size": pair(m.patch_embed.patch_size),
            "img_size": pair(m.patch_embed.img_size),
            "in_chans": attr(m.patch_embed, "proj.in_channels"),
            "qkv_bias": None if qkv is None else qkv.bias is not None,
            "class_token": m.cls_token is not None,
            "distilled": isinstance(m, VisionTransformerDistilled),
            "global_pool": m.global_pool,
            "ln_eps": norm1.eps if isinstance(norm1, torch.nn.LayerNorm) else None,
            "unsupported": "; ".join(unsupported) if unsupported else None,
            "default_tag": default.tags[0] if default and default.tags and default.tags[0] else None,
            "tags": tags,
        })

    # One architecture per line: small diffs when timm changes.
    lines = [json.dumps(e, separators=(",", ":")) for e in entries]
    header = {"generator": "tools/make_timm_table.py", "timm": timm.__version__,
              "families": ["deit*", "vit_*"]}
    # Names timm still accepts for compatibility (old config.json files use them).
    deprecated = {}
    for module in ("vision_transformer", "deit"):
        deprecated.update({k: v for k, v in timm.models.get_deprecated_models(module).items() if v})
    text = "{\"about\":" + json.dumps(header, separators=(",", ":")) + ",\n"
    text += "\"deprecated\":" + json.dumps(dict(sorted(deprecated.items())), separators=(",", ":"))
    text += ",\n\"models\":[\n" + ",\n".join(lines) + "\n]}\n"
    args.out.write_text(text)
    ok = sum(1 for e in entries if e["unsupported"] is None)
    ntags = sum(len(e["tags"]) for e in entries)
    ok_tags = sum(len(e["tags"]) for e in entries if e["unsupported"] is None)
    print(f"{len(entries)} architectures ({ok} supported), {ntags} tags ({ok_tags} supported) "
          f"-> {args.out} ({len(text)} bytes)")
    modes = sorted({(t["crop_mode"], t["interpolation"]) for e in entries
                    if e["unsupported"] is None for t in e["tags"].values()})
    print("crop_mode/interpolation of supported tags:", modes)
    for s in skipped:
        print("skipped", s)


if __name__ == "__main__":
    main()

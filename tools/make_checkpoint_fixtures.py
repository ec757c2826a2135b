"""Checkpoints as users have them, with timm's logits for them: tests/fixtures/checkpoints/.

    hub224/model.safetensors, hub224/config.json
        timm's hub layout (weights + config.json written by timm's save_config_for_hf) of
        `vit_base_patch16_224.augreg2_in21k_ft_in1k` built with model_args embed_dim=32, depth=1,
        num_heads=4 (heads 8 wide), num_classes=5; float32
    hub384/model.safetensors, hub384/config.json
        the same for `vit_base_patch16_384.augreg_in21k_ft_in1k` (embed_dim=32, depth=1,
        num_heads=2, num_classes=5); float16 weights
    tags.json
        {variant: config.json text}: hub224's or hub384's config.json with the pretrained_cfg of
        another registered tag (timm's own registry), one variant per preprocessing that the
        supported tags use (crop_pct 0.9 / 1.0, ImageNet / 0.5 / CLIP mean and std, 224 / 384)
    hub_logits.safetensors
        `<variant>` f32 [N, 5]: timm's logits for the N images listed in README.md, each opened
        with PIL, transformed by timm's eval transform for the variant
        (resolve_model_data_config of the model timm builds from the directory with
        `timm.create_model("local-dir:DIR", pretrained=True)`) and run through that model
    train.pth     a timm-train-style checkpoint (torch.save): epoch, arch, version, metric,
                  args (argparse.Namespace), optimizer (state and param groups), `state_dict`
                  and `state_dict_ema` (two different weight sets, float16, every key under
                  `module.`); model: VisionTransformer(img_size=32, patch_size=8, embed_dim=32,
                  depth=2, num_heads=4, mlp_ratio=2, num_classes=5)
    deit.pth      the DeiT repository's layout: `model` and `model_ema` (bfloat16, keys under
                  `_orig_mod.`), epoch, scaler, args; the same architecture
    plain.pt      a bare state dict (float32, keys under `_orig_mod.module.`) with an int64
                  tensor `num_batches_tracked` and a Python int `epoch` among the entries
    small.toml    sidecar for the three PyTorch files (what shapes cannot tell)
    pth_io.safetensors
        `input` f32 [2, 3, 32, 32] and `<name>.logits` f32 [2, 5] for train (state_dict),
        train_ema (state_dict_ema), deit (model), deit_ema (model_ema), plain: timm's forward in
        float32 with the weights as stored (rounded to their dtype)
    digits_jpeg/<label>/<i>.jpg, digits_jpeg_logits.safetensors
        the embedded demo model's 360 test digits as RGB JPEGs (quality 90, 4:2:0) in an
        ImageFolder, and `logits` f32 [360, 10] (rows in sorted path order) and `labels` u8 [360]
        from timm's pipeline: PIL open -> timm eval transform of the demo -> the demo model

Run from anywhere:

    python tools/make_checkpoint_fixtures.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import sys
import tempfile

import numpy as np
import timm
import timm.data
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from timm.models._hub import save_config_for_hf
from timm.models.vision_transformer import VisionTransformer

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from make_parity_fixtures import randomize, round_to  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
JPEG_DIR = ROOT / "tests/fixtures/jpeg"

# Variants: (base directory, registered name whose pretrained_cfg is used).
TAG_VARIANTS = {
    "deit_fb_in1k": ("hub224", "deit_base_patch16_224.fb_in1k"),
    "augreg2": ("hub224", "vit_base_patch16_224.augreg2_in21k_ft_in1k"),
    "bamboo": ("hub224", "vit_base_patch16_224.bamboo"),
    "augreg_384": ("hub384", "vit_base_patch16_384.augreg_in21k_ft_in1k"),
    "deit_384": ("hub384", "deit_base_patch16_384.fb_in1k"),
}
SMALL = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4, mlp_ratio=2.0,
             num_classes=5)


def images() -> list[pathlib.Path]:
    return sorted(JPEG_DIR.glob("*.jpg"))


@torch.no_grad()
def hub(out: pathlib.Path, name: str, arch: str, heads: int, dtype: torch.dtype, seed: int):
    torch.manual_seed(seed)
    model = timm.create_model(arch, pretrained=False, embed_dim=32, depth=1, num_heads=heads,
                              num_classes=5)
    model.eval()
    randomize(model, seed)
    round_to(model, dtype)
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    sd = {k: v.to(dtype).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, str(d / "model.safetensors"))
    save_config_for_hf(model, str(d / "config.json"))
    return json.loads((d / "config.json").read_text())


@torch.no_grad()
def timm_logits(directory: pathlib.Path) -> torch.Tensor:
    """timm's own reading of a hub directory, and its eval pipeline on the JPEG fixtures."""
    model = timm.create_model(f"local-dir:{directory}", pretrained=True).eval()
    cfg = timm.data.resolve_model_data_config(model)
    tf = timm.data.create_transform(**cfg, is_training=False)
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in images()])
    return model(x).float().contiguous(), cfg


def tag_variants(out: pathlib.Path, configs: dict) -> None:
    texts, logits = {}, {}
    for variant, (base, name) in TAG_VARIANTS.items():
        cfg = json.loads(json.dumps(configs[base]))
        pre = timm.models.get_pretrained_cfg(name).to_dict(remove_source=True, remove_null=True)
        pre["num_classes"] = cfg["num_classes"]
        cfg["pretrained_cfg"] = pre
        text = json.dumps(cfg, indent=2)
        texts[variant] = text
        with tempfile.TemporaryDirectory() as tmp:
            t = pathlib.Path(tmp)
            shutil.copy(out / base / "model.safetensors", t / "model.safetensors")
            (t / "config.json").write_text(text)
            logits[variant], data = timm_logits(t)
        print(f"{variant}: {name} -> {data}")
    (out / "tags.json").write_text(json.dumps(texts, indent=1) + "\n")
    save_file(logits, str(out / "hub_logits.safetensors"))


def prefixed(sd: dict, prefix: str, dtype: torch.dtype) -> dict:
    return {prefix + k: v.detach().to(dtype).contiguous() for k, v in sd.items()}


@torch.no_grad()
def pytorch_files(out: pathlib.Path) -> None:
    import argparse as ap

    x = torch.randn((2, 3, 32, 32), generator=torch.Generator().manual_seed(77))
    io = {"input": x.contiguous()}

    def model(seed: int, dtype: torch.dtype) -> VisionTransformer:
        torch.manual_seed(seed)
        m = VisionTransformer(**SMALL).eval()
        randomize(m, seed)
        round_to(m, dtype)
        return m

    args = ap.Namespace(model="vit_small", lr=5e-4, epochs=300, smoothing=0.1)
    train, train_ema = model(11, torch.float16), model(12, torch.float16)
    torch.save({
        "epoch": 7, "arch": "vit_small", "version": 2, "metric": 12.5, "args": args,
        "state_dict": prefixed(train.state_dict(), "module.", torch.float16),
        "optimizer": {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
                      "param_groups": [{"lr": 5e-4, "params": [0]}]},
        "state_dict_ema": prefixed(train_ema.state_dict(), "module.", torch.float16),
    }, out / "train.pth")
    io["train.logits"] = train(x).contiguous()
    io["train_ema.logits"] = train_ema(x).contiguous()

    deit, deit_ema = model(13, torch.bfloat16), model(14, torch.bfloat16)
    torch.save({
        "model": prefixed(deit.state_dict(), "_orig_mod.", torch.bfloat16),
        "model_ema": prefixed(deit_ema.state_dict(), "_orig_mod.", torch.bfloat16),
        "epoch": 299, "scaler": {"scale": 65536.0}, "args": args,
    }, out / "deit.pth")
    io["deit.logits"] = deit(x).contiguous()
    io["deit_ema.logits"] = deit_ema(x).contiguous()

    plain = model(15, torch.float32)
    sd = prefixed(plain.state_dict(), "_orig_mod.module.", torch.float32)
    sd["_orig_mod.module.num_batches_tracked"] = torch.tensor(5, dtype=torch.int64)
    sd["epoch"] = 5
    torch.save(sd, out / "plain.pt")
    io["plain.logits"] = plain(x).contiguous()

    # What shapes cannot tell, for the three files (timm's VisionTransformer defaults and the
    # preprocessing timm resolves for an unregistered model).
    data = timm.data.resolve_model_data_config(plain)
    fl = lambda v: "[" + ", ".join(repr(float(t)) for t in v) + "]"
    (out / "small.toml").write_text(
        f"num_heads = {SMALL['num_heads']}\nlayer_norm_eps = {plain.blocks[0].norm1.eps!r}\n"
        f'global_pool = "{plain.global_pool}"\nmean = {fl(data["mean"])}\n'
        f'std = {fl(data["std"])}\ncrop_pct = {data["crop_pct"]!r}\n'
        f'crop_mode = "{data["crop_mode"]}"\ninterpolation = "{data["interpolation"]}"\n'
    )
    save_file(io, str(out / "pth_io.safetensors"))
    for k, v in io.items():
        if k.endswith("logits"):
            print(f"{k}: max|logit| {v.abs().max():.3f}")


@torch.no_grad()
def digits(out: pathlib.Path) -> None:
    demo = ROOT / "assets/demo"
    data = load_file(str(demo / "digits_test.safetensors"))
    imgs, labels = data["images"].numpy(), data["labels"].numpy()
    d = out / "digits_jpeg"
    if d.exists():
        shutil.rmtree(d)
    for i, (im, lab) in enumerate(zip(imgs, labels)):
        (d / str(int(lab))).mkdir(parents=True, exist_ok=True)
        Image.fromarray(im).convert("RGB").save(d / str(int(lab)) / f"{i:05d}.jpg", quality=90)
    paths = sorted(d.glob("*/*.jpg"))
    sidecar = (demo / "deit_digits.toml").read_text()
    mean = float(sidecar.split("mean = [")[1].split(",")[0])
    std = float(sidecar.split("std = [")[1].split(",")[0])
    tf = timm.data.create_transform(input_size=(3, 28, 28), crop_pct=1.0, interpolation="bicubic",
                                    mean=(mean,) * 3, std=(std,) * 3, is_training=False)
    model = VisionTransformer(img_size=28, patch_size=4, in_chans=3, num_classes=10,
                              embed_dim=96, depth=6, num_heads=3, mlp_ratio=4.0).eval()
    model.load_state_dict(load_file(str(demo / "deit_digits.safetensors")))
    x = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
    logits = model(x).contiguous()
    lab = torch.tensor([int(p.parent.name) for p in paths], dtype=torch.uint8)
    top1 = (logits.argmax(1) == lab.long()).float().mean().item()
    save_file({"logits": logits, "labels": lab}, str(out / "digits_jpeg_logits.safetensors"))
    print(f"digits_jpeg: {len(paths)} JPEGs, timm top-1 {100 * top1:.2f}%")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=pathlib.Path, default=ROOT / "tests/fixtures/checkpoints")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    configs = {
        "hub224": hub(out, "hub224", "vit_base_patch16_224.augreg2_in21k_ft_in1k", 4,
                      torch.float32, 21),
        "hub384": hub(out, "hub384", "vit_base_patch16_384.augreg_in21k_ft_in1k", 2,
                      torch.float16, 22),
    }
    tag_variants(out, configs)
    pytorch_files(out)
    digits(out)
    names = "\n".join(f"{i}. `tests/fixtures/jpeg/{p.name}`" for i, p in enumerate(images()))
    (out / "README.md").write_text(
        "# Checkpoint fixtures\n\nMade by `tools/make_checkpoint_fixtures.py` (timm "
        f"{timm.__version__}, torch {torch.__version__.split('+')[0]}); see its docstring for "
        "every file. Rows of `hub_logits.safetensors` are these images, in this order:\n\n"
        + names + "\n"
    )


if __name__ == "__main__":
    main()

//! `repq-hw info [MODEL]`: what a checkpoint is.

use std::path::PathBuf;

use super::output::out;
use crate::error::Result;
use crate::model::Model;

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// A timm ViT/DeiT checkpoint (.safetensors); default: the embedded demo model
    pub model: Option<PathBuf>,
}

pub fn run(args: &InfoArgs) -> Result<()> {
    let model = super::load_model(args.model.as_deref())?;
    out!("{}", describe(&model))?;
    Ok(())
}

/// The report `info` prints.
pub fn describe(model: &Model) -> String {
    let c = model.config();
    let p = &model.preprocess;
    let kind = if c.distilled {
        "DeiT (distilled)"
    } else {
        "ViT/DeiT"
    };
    let mut s = String::new();
    s += &format!("model        {} ({kind})\n", model.name);
    s += &format!("source       {}\n", model.source.display());
    s += &format!(
        "input        {} x {} x {} (C x H x W)\n",
        c.in_chans, c.img_size[0], c.img_size[1]
    );
    s += &format!(
        "patches      {} x {} px, {} x {} grid = {} tokens + {} prefix\n",
        c.patch_size[0],
        c.patch_size[1],
        c.grid()[0],
        c.grid()[1],
        c.num_patches(),
        c.num_prefix_tokens()
    );
    s += &format!(
        "width        {} ({} heads of {})\n",
        c.embed_dim,
        c.num_heads,
        c.head_dim()
    );
    s += &format!("depth        {} blocks\n", c.depth);
    s += &format!(
        "mlp          {} hidden (ratio {:.2})\n",
        c.mlp_hidden,
        c.mlp_hidden as f64 / c.embed_dim as f64
    );
    s += &format!("classes      {}\n", c.num_classes);
    s += &format!("qkv bias     {}\n", if c.qkv_bias { "yes" } else { "no" });
    s += &format!("layernorm    eps {:e}\n", c.ln_eps);
    s += &format!(
        "preprocess   bicubic, crop_pct {}, mean {:?}, std {:?}\n",
        p.crop_pct, p.mean, p.std
    );
    s += &format!("parameters   {}\n", model.vit.num_params());
    s
}

//! `repq-hw info [MODEL]`: what a checkpoint is, and where each of its fields came from.

use std::path::PathBuf;

use super::model_options::ModelOptions;
use super::output::out;
use crate::error::Result;
use crate::model::{Loaded, Model};

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// A timm ViT/DeiT checkpoint (.safetensors or PyTorch .pth/.pt/.bin, with timm's
    /// config.json and/or a MODEL.toml sidecar beside it); default: the embedded demo model
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub options: ModelOptions,
}

pub fn run(args: &InfoArgs) -> Result<()> {
    let loaded = super::model_options::load(args.model.as_deref(), &args.options)?;
    out!("{}", describe_loaded(&loaded))?;
    Ok(())
}

/// The report `info` prints: the summary, then every field with its value and origin.
pub fn describe_loaded(loaded: &Loaded) -> String {
    let mut s = describe(&loaded.model);
    if let Some(a) = &loaded.arch {
        s += &format!("timm name    {a}\n");
    }
    if !loaded.read.is_empty() {
        let read: Vec<String> = loaded
            .read
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        s += &format!("read         {}\n", read.join(", "));
    }
    s += "\nfield            value                              from\n";
    for f in &loaded.fields {
        s += &format!("{:<16} {:<34} {}\n", f.field, f.value, f.origin);
    }
    s
}

/// The summary of a model: architecture, preprocessing and parameter count.
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
        "preprocess   bicubic, center crop, crop_pct {}, mean {:?}, std {:?}\n",
        p.crop_pct, p.mean, p.std
    );
    s += &format!("parameters   {}\n", model.vit.num_params());
    s
}

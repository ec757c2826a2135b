//! `repq-hw info [MODEL]`: what a checkpoint is, and where each of its fields came from.

use std::path::PathBuf;

use super::model_options::ModelOptions;
use super::output::out;
use crate::error::Result;
use crate::model::{Loaded, Model, Network, SwinConfig, VitConfig};

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// A timm ViT/DeiT or Swin checkpoint (.safetensors or PyTorch .pth/.pt/.bin, with timm's
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
    let p = &model.preprocess;
    let mut s = match &model.net {
        Network::Vit(v) => describe_vit(model, &v.config),
        Network::Swin(m) => describe_swin(model, &m.config),
    };
    s += &format!(
        "preprocess   bicubic, center crop, crop_pct {}, mean {:?}, std {:?}\n",
        p.crop_pct, p.mean, p.std
    );
    s += &format!("parameters   {}\n", model.net.num_params());
    s
}

fn describe_vit(model: &Model, c: &VitConfig) -> String {
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
    s
}

fn describe_swin(model: &Model, c: &SwinConfig) -> String {
    let mut s = String::new();
    s += &format!("model        {} (Swin Transformer)\n", model.name);
    s += &format!("source       {}\n", model.source.display());
    s += &format!(
        "input        {} x {} x {} (C x H x W)\n",
        c.in_chans, c.img_size[0], c.img_size[1]
    );
    s += &format!(
        "patches      {} x {} px, {} x {} grid\n",
        c.patch_size[0],
        c.patch_size[1],
        c.grid()[0],
        c.grid()[1]
    );
    for (i, st) in c.stages.iter().enumerate() {
        s += &format!(
            "stage {i}      {} x {} grid, width {}, {} blocks, {} heads of {}, mlp {}, window \
             {}x{}, shift {}x{}\n",
            st.resolution[0],
            st.resolution[1],
            st.dim,
            st.depth,
            st.num_heads,
            st.head_dim,
            st.mlp_hidden,
            st.window[0],
            st.window[1],
            st.shift[0],
            st.shift[1]
        );
    }
    s += &format!("classes      {} (average pooling)\n", c.num_classes);
    s += &format!("qkv bias     {}\n", if c.qkv_bias { "yes" } else { "no" });
    s += &format!("layernorm    eps {:e}\n", c.ln_eps);
    s
}

//! Names of the quantized things: the weight layers and the activation sites, with the stable
//! string names the artifact uses (docs/quantized-format.md).

use crate::model::{Linear, Site, VisionTransformer, VitConfig};

/// A layer whose weight is quantized per output channel: every Linear, the classifier head(s)
/// included, and the patch-embedding convolution (REFERENCE.md "What is quantized").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightLayer {
    PatchEmbed,
    Qkv(usize),
    Proj(usize),
    Fc1(usize),
    Fc2(usize),
    Head,
    HeadDist,
}

impl WeightLayer {
    /// Every quantized layer of a model of this architecture, in forward order.
    pub fn all(config: &VitConfig) -> Vec<WeightLayer> {
        let mut v = vec![WeightLayer::PatchEmbed];
        for i in 0..config.depth {
            v.extend([
                WeightLayer::Qkv(i),
                WeightLayer::Proj(i),
                WeightLayer::Fc1(i),
                WeightLayer::Fc2(i),
            ]);
        }
        v.push(WeightLayer::Head);
        if config.distilled {
            v.push(WeightLayer::HeadDist);
        }
        v
    }

    /// timm's module name (`blocks.3.attn.qkv`, `patch_embed.proj`, ...).
    pub fn name(&self) -> String {
        match *self {
            WeightLayer::PatchEmbed => "patch_embed.proj".into(),
            WeightLayer::Qkv(i) => format!("blocks.{i}.attn.qkv"),
            WeightLayer::Proj(i) => format!("blocks.{i}.attn.proj"),
            WeightLayer::Fc1(i) => format!("blocks.{i}.mlp.fc1"),
            WeightLayer::Fc2(i) => format!("blocks.{i}.mlp.fc2"),
            WeightLayer::Head => "head".into(),
            WeightLayer::HeadDist => "head_dist".into(),
        }
    }

    /// The activation site whose quantized values this layer consumes.
    pub fn input_site(&self) -> Site {
        match *self {
            WeightLayer::PatchEmbed => Site::PatchInput,
            WeightLayer::Qkv(i) => Site::QkvInput(i),
            WeightLayer::Proj(i) => Site::ProjInput(i),
            WeightLayer::Fc1(i) => Site::Fc1Input(i),
            WeightLayer::Fc2(i) => Site::Fc2Input(i),
            WeightLayer::Head => Site::HeadInput,
            WeightLayer::HeadDist => Site::HeadDistInput,
        }
    }

    /// The layer in `vit` (`None` for a block or head the model does not have).
    pub fn linear<'a>(&self, vit: &'a VisionTransformer) -> Option<&'a Linear> {
        match *self {
            WeightLayer::PatchEmbed => Some(&vit.patch_embed),
            WeightLayer::Qkv(i) => vit.blocks.get(i).map(|b| &b.qkv),
            WeightLayer::Proj(i) => vit.blocks.get(i).map(|b| &b.proj),
            WeightLayer::Fc1(i) => vit.blocks.get(i).map(|b| &b.fc1),
            WeightLayer::Fc2(i) => vit.blocks.get(i).map(|b| &b.fc2),
            WeightLayer::Head => Some(&vit.head),
            WeightLayer::HeadDist => vit.head_dist.as_ref(),
        }
    }

    /// Mutable access to the layer in `vit`.
    pub fn linear_mut<'a>(&self, vit: &'a mut VisionTransformer) -> Option<&'a mut Linear> {
        match *self {
            WeightLayer::PatchEmbed => Some(&mut vit.patch_embed),
            WeightLayer::Qkv(i) => vit.blocks.get_mut(i).map(|b| &mut b.qkv),
            WeightLayer::Proj(i) => vit.blocks.get_mut(i).map(|b| &mut b.proj),
            WeightLayer::Fc1(i) => vit.blocks.get_mut(i).map(|b| &mut b.fc1),
            WeightLayer::Fc2(i) => vit.blocks.get_mut(i).map(|b| &mut b.fc2),
            WeightLayer::Head => Some(&mut vit.head),
            WeightLayer::HeadDist => vit.head_dist.as_mut(),
        }
    }

    /// Shape of the weight as timm stores it (`[D, C, Ph, Pw]` for the convolution).
    pub fn weight_shape(&self, config: &VitConfig, linear: &Linear) -> Vec<usize> {
        match self {
            WeightLayer::PatchEmbed => vec![
                config.embed_dim,
                config.in_chans,
                config.patch_size[0],
                config.patch_size[1],
            ],
            _ => vec![linear.out_features, linear.in_features],
        }
    }
}

/// Every activation site of a model of this architecture, in forward order.
pub fn all_sites(config: &VitConfig) -> Vec<Site> {
    let mut v = vec![Site::PatchInput];
    for i in 0..config.depth {
        v.extend([
            Site::QkvInput(i),
            Site::Query(i),
            Site::Key(i),
            Site::Value(i),
            Site::AttnProbs(i),
            Site::ProjInput(i),
            Site::Fc1Input(i),
            Site::Fc2Input(i),
        ]);
    }
    v.push(Site::HeadInput);
    if config.distilled {
        v.push(Site::HeadDistInput);
    }
    v
}

/// The artifact's name of an activation site: the timm module it enters (`.input`), or the
/// attention tensor (`blocks.i.attn.q`, `.k`, `.v`, `.probs`).
pub fn site_name(site: Site) -> String {
    match site {
        Site::PatchInput => "patch_embed.proj.input".into(),
        Site::QkvInput(i) => format!("blocks.{i}.attn.qkv.input"),
        Site::Query(i) => format!("blocks.{i}.attn.q"),
        Site::Key(i) => format!("blocks.{i}.attn.k"),
        Site::Value(i) => format!("blocks.{i}.attn.v"),
        Site::AttnProbs(i) => format!("blocks.{i}.attn.probs"),
        Site::ProjInput(i) => format!("blocks.{i}.attn.proj.input"),
        Site::Fc1Input(i) => format!("blocks.{i}.mlp.fc1.input"),
        Site::Fc2Input(i) => format!("blocks.{i}.mlp.fc2.input"),
        Site::HeadInput => "head.input".into(),
        Site::HeadDistInput => "head_dist.input".into(),
    }
}

/// Inverse of [`site_name`].
pub fn parse_site(name: &str) -> Option<Site> {
    match name {
        "patch_embed.proj.input" => return Some(Site::PatchInput),
        "head.input" => return Some(Site::HeadInput),
        "head_dist.input" => return Some(Site::HeadDistInput),
        _ => {}
    }
    let rest = name.strip_prefix("blocks.")?;
    let (idx, tail) = rest.split_once('.')?;
    let i: usize = idx.parse().ok()?;
    if idx != i.to_string() {
        return None;
    }
    Some(match tail {
        "attn.qkv.input" => Site::QkvInput(i),
        "attn.q" => Site::Query(i),
        "attn.k" => Site::Key(i),
        "attn.v" => Site::Value(i),
        "attn.probs" => Site::AttnProbs(i),
        "attn.proj.input" => Site::ProjInput(i),
        "mlp.fc1.input" => Site::Fc1Input(i),
        "mlp.fc2.input" => Site::Fc2Input(i),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::random::deit_small_config;

    #[test]
    fn site_names_round_trip() {
        let mut c = deit_small_config();
        c.distilled = true;
        let sites = all_sites(&c);
        assert_eq!(sites.len(), 1 + 12 * 8 + 2);
        for s in sites {
            assert_eq!(parse_site(&site_name(s)), Some(s));
        }
        assert_eq!(parse_site("blocks.01.attn.q"), None);
        assert_eq!(parse_site("blocks.x.attn.q"), None);
        assert_eq!(parse_site("blocks.1.attn.w"), None);
        assert_eq!(WeightLayer::all(&c).len(), 1 + 48 + 2);
    }
}

//! Names of the quantized things: the weight layers and the activation sites, with the stable
//! string names the artifact uses (docs/quantized-format.md).
//!
//! The functions taking a [`VitConfig`] or [`VisionTransformer`] are the ViT/DeiT ones (the
//! integer model and golden vectors use them); those taking a [`Network`] (`*_in`, `*_of`) cover
//! every architecture and give Swin's layers and sites their timm names
//! (`layers.S.blocks.J.attn.qkv`, `layers.S.downsample.reduction`, `head.fc`).

use crate::model::{LayerNorm, Linear, Network, Site, VisionTransformer, VitConfig};

/// A layer whose weight is quantized per output channel: every Linear, the classifier head(s)
/// included, and the patch-embedding convolution (REFERENCE.md "What is quantized").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WeightLayer {
    PatchEmbed,
    Qkv(usize),
    Proj(usize),
    Fc1(usize),
    Fc2(usize),
    /// Swin: `layers.S.downsample.reduction` (stage S >= 1), bias-free in timm.
    Reduction(usize),
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
            WeightLayer::Reduction(s) => format!("layers.{s}.downsample.reduction"),
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
            WeightLayer::Reduction(s) => Site::ReductionInput(s),
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
            WeightLayer::Reduction(_) => None,
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
            WeightLayer::Reduction(_) => None,
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

impl WeightLayer {
    /// Every quantized layer of `net`, in forward order.
    pub fn all_of(net: &Network) -> Vec<WeightLayer> {
        match net {
            Network::Vit(v) => WeightLayer::all(&v.config),
            Network::Swin(m) => {
                let mut v = vec![WeightLayer::PatchEmbed];
                let mut i = 0;
                for (s, st) in m.config.stages.iter().enumerate() {
                    if s > 0 {
                        v.push(WeightLayer::Reduction(s));
                    }
                    for _ in 0..st.depth {
                        v.extend([
                            WeightLayer::Qkv(i),
                            WeightLayer::Proj(i),
                            WeightLayer::Fc1(i),
                            WeightLayer::Fc2(i),
                        ]);
                        i += 1;
                    }
                }
                v.push(WeightLayer::Head);
                v
            }
        }
    }

    /// timm's module name of the layer in `net`.
    pub fn name_in(&self, net: &Network) -> String {
        let Network::Swin(m) = net else {
            return self.name();
        };
        let block = |i: usize| m.block_name(i);
        match *self {
            WeightLayer::Qkv(i) => format!("{}.attn.qkv", block(i)),
            WeightLayer::Proj(i) => format!("{}.attn.proj", block(i)),
            WeightLayer::Fc1(i) => format!("{}.mlp.fc1", block(i)),
            WeightLayer::Fc2(i) => format!("{}.mlp.fc2", block(i)),
            WeightLayer::Head => "head.fc".into(),
            _ => self.name(),
        }
    }

    /// The layer in `net` (`None` for one the model does not have).
    pub fn linear_in<'a>(&self, net: &'a Network) -> Option<&'a Linear> {
        match net {
            Network::Vit(v) => self.linear(v),
            Network::Swin(m) => match *self {
                WeightLayer::PatchEmbed => Some(&m.patch_embed),
                WeightLayer::Qkv(i) => m.block(i).map(|b| &b.attn.qkv),
                WeightLayer::Proj(i) => m.block(i).map(|b| &b.attn.proj),
                WeightLayer::Fc1(i) => m.block(i).map(|b| &b.fc1),
                WeightLayer::Fc2(i) => m.block(i).map(|b| &b.fc2),
                WeightLayer::Reduction(s) => {
                    m.layers.get(s)?.downsample.as_ref().map(|d| &d.reduction)
                }
                WeightLayer::Head => Some(&m.head),
                WeightLayer::HeadDist => None,
            },
        }
    }

    /// Mutable access to the layer in `net`.
    pub fn linear_in_mut<'a>(&self, net: &'a mut Network) -> Option<&'a mut Linear> {
        match net {
            Network::Vit(v) => self.linear_mut(v),
            Network::Swin(m) => match *self {
                WeightLayer::PatchEmbed => Some(&mut m.patch_embed),
                WeightLayer::Qkv(i) => m.block_mut(i).map(|b| &mut b.attn.qkv),
                WeightLayer::Proj(i) => m.block_mut(i).map(|b| &mut b.attn.proj),
                WeightLayer::Fc1(i) => m.block_mut(i).map(|b| &mut b.fc1),
                WeightLayer::Fc2(i) => m.block_mut(i).map(|b| &mut b.fc2),
                WeightLayer::Reduction(s) => m
                    .layers
                    .get_mut(s)?
                    .downsample
                    .as_mut()
                    .map(|d| &mut d.reduction),
                WeightLayer::Head => Some(&mut m.head),
                WeightLayer::HeadDist => None,
            },
        }
    }

    /// Shape of the weight as timm stores it (`[C, in, Ph, Pw]` for the convolution).
    pub fn weight_shape_in(&self, net: &Network, linear: &Linear) -> Vec<usize> {
        match (net, self) {
            (Network::Vit(v), _) => self.weight_shape(&v.config, linear),
            (Network::Swin(m), WeightLayer::PatchEmbed) => vec![
                m.config.embed_dim(),
                m.config.in_chans,
                m.config.patch_size[0],
                m.config.patch_size[1],
            ],
            _ => vec![linear.out_features, linear.in_features],
        }
    }
}

/// The LayerNorm -> Linear pairs RepQ-ViT reparameterizes (REFERENCE.md section 2), as (the
/// post-LayerNorm site, the layer it enters), in forward order: norm1 -> attn.qkv and
/// norm2 -> mlp.fc1 of every block, and (Swin) downsample.norm -> downsample.reduction.
pub fn ln_pairs(net: &Network) -> Vec<(Site, WeightLayer)> {
    WeightLayer::all_of(net)
        .into_iter()
        .filter_map(|l| match l {
            WeightLayer::Qkv(_) | WeightLayer::Fc1(_) | WeightLayer::Reduction(_) => {
                Some((l.input_site(), l))
            }
            _ => None,
        })
        .collect()
}

/// The LayerNorm and the Linear of one [`ln_pairs`] entry, mutably.
pub fn ln_pair_mut(net: &mut Network, layer: WeightLayer) -> Option<(&mut LayerNorm, &mut Linear)> {
    match (net, layer) {
        (Network::Vit(v), WeightLayer::Qkv(i)) => {
            v.blocks.get_mut(i).map(|b| (&mut b.norm1, &mut b.qkv))
        }
        (Network::Vit(v), WeightLayer::Fc1(i)) => {
            v.blocks.get_mut(i).map(|b| (&mut b.norm2, &mut b.fc1))
        }
        (Network::Swin(m), WeightLayer::Qkv(i)) => {
            m.block_mut(i).map(|b| (&mut b.norm1, &mut b.attn.qkv))
        }
        (Network::Swin(m), WeightLayer::Fc1(i)) => {
            m.block_mut(i).map(|b| (&mut b.norm2, &mut b.fc1))
        }
        (Network::Swin(m), WeightLayer::Reduction(s)) => m
            .layers
            .get_mut(s)?
            .downsample
            .as_mut()
            .map(|d| (&mut d.norm, &mut d.reduction)),
        _ => None,
    }
}

/// Every activation site of `net`, in forward order.
pub fn sites_of(net: &Network) -> Vec<Site> {
    match net {
        Network::Vit(v) => all_sites(&v.config),
        Network::Swin(m) => {
            let mut v = vec![Site::PatchInput];
            let mut i = 0;
            for (s, st) in m.config.stages.iter().enumerate() {
                if s > 0 {
                    v.push(Site::ReductionInput(s));
                }
                for _ in 0..st.depth {
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
                    i += 1;
                }
            }
            v.push(Site::HeadInput);
            v
        }
    }
}

/// The artifact's name of a site of `net` (timm's module names; see [`site_name`]).
pub fn site_name_in(net: &Network, site: Site) -> String {
    let Network::Swin(m) = net else {
        return site_name(site);
    };
    let block = |i: usize| m.block_name(i);
    match site {
        Site::QkvInput(i) => format!("{}.attn.qkv.input", block(i)),
        Site::Query(i) => format!("{}.attn.q", block(i)),
        Site::Key(i) => format!("{}.attn.k", block(i)),
        Site::Value(i) => format!("{}.attn.v", block(i)),
        Site::AttnProbs(i) => format!("{}.attn.probs", block(i)),
        Site::ProjInput(i) => format!("{}.attn.proj.input", block(i)),
        Site::Fc1Input(i) => format!("{}.mlp.fc1.input", block(i)),
        Site::Fc2Input(i) => format!("{}.mlp.fc2.input", block(i)),
        Site::HeadInput => "head.fc.input".into(),
        _ => site_name(site),
    }
}

/// Inverse of [`site_name_in`] over the sites `net` has.
pub fn parse_site_in(net: &Network, name: &str) -> Option<Site> {
    sites_of(net)
        .into_iter()
        .find(|&s| site_name_in(net, s) == name)
}

/// Whether a site's quantizer may be per channel: the post-LayerNorm inputs of qkv, fc1 and
/// (Swin) the PatchMerging reduction.
pub fn is_post_ln(site: Site) -> bool {
    matches!(
        site,
        Site::QkvInput(_) | Site::Fc1Input(_) | Site::ReductionInput(_)
    )
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
        Site::ReductionInput(s) => format!("layers.{s}.downsample.reduction.input"),
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
    if let Some(rest) = name.strip_prefix("layers.") {
        let (idx, tail) = rest.split_once('.')?;
        let s: usize = idx.parse().ok()?;
        return (idx == s.to_string() && tail == "downsample.reduction.input")
            .then_some(Site::ReductionInput(s));
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

//! Bad checkpoints: each gives a typed error naming the file and the tensor or field, never a
//! panic.

use std::path::{Path, PathBuf};

use repq_hw::Error;
use repq_hw::model::checkpoint::to_safetensors;
use repq_hw::model::{Model, Sidecar, VisionTransformer, VitConfig};

fn tiny_config() -> VitConfig {
    VitConfig {
        img_size: [16, 16],
        patch_size: [8, 8],
        in_chans: 3,
        embed_dim: 64,
        depth: 2,
        num_heads: 1,
        mlp_hidden: 96,
        num_classes: 5,
        qkv_bias: true,
        distilled: false,
        ln_eps: 1e-6,
    }
}

fn valid_bytes() -> Vec<u8> {
    to_safetensors(&VisionTransformer::random(tiny_config(), 1)).unwrap()
}

/// Every field the shapes of `tiny_config` cannot tell.
fn full_sidecar() -> Sidecar {
    Sidecar::parse(
        "num_heads = 1\nlayer_norm_eps = 1e-6\nglobal_pool = \"token\"\ncrop_pct = 0.9\n\
         mean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]\ncrop_mode = \"center\"\n\
         interpolation = \"bicubic\"\n",
        Path::new("bad.toml"),
    )
    .unwrap()
}

fn load(bytes: &[u8]) -> Result<Model, Error> {
    Model::from_bytes(bytes, Path::new("bad.safetensors"), &full_sidecar(), None)
}

/// Rewrites the safetensors header (JSON) with `edit`, keeping the data section.
fn with_header(bytes: &[u8], edit: impl Fn(&str) -> String) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap();
    let new = edit(header);
    let mut out = (new.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(&bytes[8 + n..]);
    out
}

#[test]
fn a_valid_checkpoint_round_trips() {
    let vit = VisionTransformer::random(tiny_config(), 1);
    let model = load(&to_safetensors(&vit).unwrap()).unwrap();
    assert_eq!(model.vit().unwrap(), &vit);
}

#[test]
fn truncated_file_names_the_file() {
    let bytes = valid_bytes();
    for cut in [0, 5, 100, bytes.len() / 2, bytes.len() - 1] {
        let err = load(&bytes[..cut]).unwrap_err();
        assert!(matches!(err, Error::Checkpoint { .. }), "cut {cut}: {err}");
        assert!(err.to_string().contains("bad.safetensors"), "{err}");
    }
}

#[test]
fn corrupt_header_is_an_error() {
    // The JSON header's opening brace (byte 8, after the 8-byte length) made invalid. (Byte 10,
    // used before, only renamed the first tensor, which is a valid file with an unknown tensor.)
    let mut bytes = valid_bytes();
    assert_eq!(bytes[8], b'{');
    bytes[8] = b'#';
    let err = load(&bytes).unwrap_err();
    assert!(matches!(err, Error::Checkpoint { .. }), "{err}");
    assert!(err.to_string().contains("bad.safetensors"), "{err}");
}

#[test]
fn missing_tensor_is_named() {
    let bytes = with_header(&valid_bytes(), |h| {
        h.replace("blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc2.wieght")
    });
    let err = load(&bytes).unwrap_err();
    match &err {
        Error::MissingTensor { tensor, .. } => assert_eq!(tensor, "blocks.1.mlp.fc2.weight"),
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("bad.safetensors"));
}

#[test]
fn inconsistent_shape_is_named() {
    // Reinterpret fc1.bias [96] as [2, 48]: same bytes, wrong shape.
    let bytes = with_header(&valid_bytes(), |h| {
        let key = "\"blocks.0.mlp.fc1.bias\":{\"dtype\":\"F32\",\"shape\":[96]";
        assert!(h.contains(key), "header layout: {h}");
        h.replace(
            key,
            "\"blocks.0.mlp.fc1.bias\":{\"dtype\":\"F32\",\"shape\":[2,48]",
        )
    });
    let err = load(&bytes).unwrap_err();
    match &err {
        Error::TensorShape { tensor, found, .. } => {
            assert_eq!(tensor, "blocks.0.mlp.fc1.bias");
            assert_eq!(found, &vec![2, 48]);
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn nan_and_inf_weights_are_named() {
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut vit = VisionTransformer::random(tiny_config(), 1);
        vit.blocks[1].proj.weight[7] = bad;
        let err = load(&to_safetensors(&vit).unwrap()).unwrap_err();
        match &err {
            Error::NonFinite { tensor, index, .. } => {
                assert_eq!(tensor, "blocks.1.attn.proj.weight");
                assert_eq!(*index, 7);
            }
            other => panic!("unexpected {other}"),
        }
    }
}

#[test]
fn unknown_tensor_is_refused_not_ignored() {
    let bytes = valid_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let extra = vec![0u8; 64 * 4];
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    views.push((
        "fc_norm.weight".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![64], &extra).unwrap(),
    ));
    let with_extra = safetensors::serialize(views, None).unwrap();
    let err = load(&with_extra).unwrap_err();
    // An architecture this tool does not implement is named as such, not as a corrupt file.
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("fc_norm.weight"), "{err}");
    assert!(err.to_string().contains("fc_norm"), "{err}");
    assert!(!err.to_string().contains("safetensors file"), "{err}");
}

#[test]
fn a_tensor_of_no_known_architecture_is_named() {
    let bytes = valid_bytes();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let extra = vec![0u8; 4 * 4];
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    views.push((
        "blocks.0.attn.mystery".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![4], &extra).unwrap(),
    ));
    let err = load(&safetensors::serialize(views, None).unwrap()).unwrap_err();
    assert!(matches!(err, Error::Unsupported { .. }), "{err}");
    assert!(err.to_string().contains("blocks.0.attn.mystery"), "{err}");
}

#[test]
fn sidecar_errors_name_the_field() {
    let bytes = valid_bytes();
    let bad_heads = Sidecar {
        num_heads: Some(5),
        ..full_sidecar()
    };
    let err = Model::from_bytes(&bytes, Path::new("m.safetensors"), &bad_heads, None).unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "num_heads"),
        "{err}"
    );
    let bad_crop = Sidecar {
        crop_pct: Some(1.5),
        ..full_sidecar()
    };
    let err = Model::from_bytes(&bytes, Path::new("m.safetensors"), &bad_crop, None).unwrap_err();
    assert!(
        matches!(&err, Error::Config { field, .. } if field == "crop_pct"),
        "{err}"
    );
    let unknown = Sidecar::parse("num_haeds = 3\n", &PathBuf::from("m.toml")).unwrap_err();
    assert!(unknown.to_string().contains("m.toml"), "{unknown}");
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let err = Model::load(Path::new("/nonexistent/model.safetensors")).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/model.safetensors"),
        "{err}"
    );
}

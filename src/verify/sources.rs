//! The C++ harness sources of `sim/`, embedded so that an installed `repq-hw` can verify
//! anywhere; [`write_sources`] writes them into a build directory.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// (file name, contents) of every harness source.
pub const SOURCES: [(&str, &str); 18] = [
    ("tb.h", include_str!("../../sim/tb.h")),
    ("golden.h", include_str!("../../sim/golden.h")),
    ("harness.h", include_str!("../../sim/harness.h")),
    ("top.cpp", include_str!("../../sim/top.cpp")),
    ("logcode.cpp", include_str!("../../sim/logcode.cpp")),
    ("shift_av.cpp", include_str!("../../sim/shift_av.cpp")),
    ("requant.cpp", include_str!("../../sim/requant.cpp")),
    ("stream.h", include_str!("../../sim/stream.h")),
    ("av_requant.cpp", include_str!("../../sim/av_requant.cpp")),
    ("gelu.cpp", include_str!("../../sim/gelu.cpp")),
    ("residual.cpp", include_str!("../../sim/residual.cpp")),
    ("rowdiv.cpp", include_str!("../../sim/rowdiv.cpp")),
    ("layernorm.cpp", include_str!("../../sim/layernorm.cpp")),
    ("softmax.cpp", include_str!("../../sim/softmax.cpp")),
    ("avgpool.cpp", include_str!("../../sim/avgpool.cpp")),
    ("vit.cpp", include_str!("../../sim/vit.cpp")),
    (
        "repq_driver.h",
        include_str!("../../templates/driver/repq_driver.h"),
    ),
    (
        "repq_driver.c",
        include_str!("../../templates/driver/repq_driver.c"),
    ),
];

/// Writes the sources into `dir` (only files whose contents differ, so builds stay incremental).
pub fn write_sources(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, text) in SOURCES {
        let p = dir.join(name);
        if fs::read_to_string(&p).ok().as_deref() != Some(text) {
            fs::write(&p, text).map_err(|e| Error::io(&p, e))?;
        }
    }
    Ok(())
}

/// Makes `to` a copy of the regular files at the top level of the generated RTL directory
/// `from` (not recursive): files whose contents differ are rewritten (so that make rebuilds only
/// what changed), files `from` no longer has are removed. The build reads the copy, so that no
/// path of the user's (spaces, non-ASCII) appears in a Makefile.
///
/// # Errors
/// [`Error::Io`] naming the file that cannot be read, written or removed.
pub fn mirror_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    let mut names = std::collections::BTreeSet::new();
    for e in fs::read_dir(from).map_err(|e| Error::io(from, e))? {
        let e = e.map_err(|e| Error::io(from, e))?;
        let src = e.path();
        // Follows symbolic links: a linked file counts as the file.
        if !src.is_file() {
            continue;
        }
        let bytes = fs::read(&src).map_err(|e| Error::io(&src, e))?;
        let dst = to.join(e.file_name());
        if fs::read(&dst).ok().as_deref() != Some(bytes.as_slice()) {
            fs::write(&dst, &bytes).map_err(|e| Error::io(&dst, e))?;
        }
        names.insert(e.file_name());
    }
    for e in fs::read_dir(to).map_err(|e| Error::io(to, e))? {
        let e = e.map_err(|e| Error::io(to, e))?;
        if !names.contains(&e.file_name()) && e.path().is_file() {
            fs::remove_file(e.path()).map_err(|e2| Error::io(e.path(), e2))?;
        }
    }
    Ok(())
}

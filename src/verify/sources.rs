//! The C++ harness sources of `sim/`, embedded so that an installed `repq-hw` can verify
//! anywhere; [`write_sources`] writes them into a build directory.

use std::fs;
use std::path::Path;

use crate::error::{Error, Result};

/// (file name, contents) of every harness source.
pub const SOURCES: [(&str, &str); 11] = [
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

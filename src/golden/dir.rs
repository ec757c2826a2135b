//! Golden-vector directories on disk: written atomically (a temporary directory beside the target,
//! renamed into place at the end), never over a directory that `repq-hw golden` did not write, and
//! read back through the manifest and the hex parser.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use super::GoldenFile;
use super::hex;
use super::manifest::{FORMAT, MANIFEST, Manifest};
use crate::error::{Error, Result};

/// Whether `dir/manifest.toml` names the golden-vector format (any version).
fn is_golden_dir(dir: &Path) -> bool {
    #[derive(serde::Deserialize)]
    struct Header {
        format: Option<String>,
    }
    fs::read_to_string(dir.join(MANIFEST))
        .ok()
        .and_then(|t| toml::from_str::<Header>(&t).ok())
        .and_then(|h| h.format)
        .is_some_and(|f| f == FORMAT)
}

/// Checks that `out` may be written: absent, an empty directory, or a directory an earlier
/// `repq-hw golden` wrote (its manifest says so).
pub fn check_target(out: &Path) -> Result<()> {
    let meta = match fs::symlink_metadata(out) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(out, e)),
    };
    if !meta.is_dir() {
        return Err(Error::Invalid(format!(
            "--out {}: exists and is not a directory; refusing to replace it",
            out.display()
        )));
    }
    let empty = fs::read_dir(out)
        .map_err(|e| Error::io(out, e))?
        .next()
        .is_none();
    if empty || is_golden_dir(out) {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "--out {}: a non-empty directory without the {MANIFEST} of `repq-hw golden`; \
             refusing to overwrite it (give a new or empty directory)",
            out.display()
        )))
    }
}

/// Removes a temporary directory unless disarmed.
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// A sibling of `out` named `.NAME.TAG-PID`, which does not exist yet.
fn sibling(out: &Path, tag: &str) -> Result<PathBuf> {
    let name = out
        .file_name()
        .ok_or_else(|| {
            Error::Invalid(format!(
                "--out {}: needs a directory name (not `..` or `/`)",
                out.display()
            ))
        })?
        .to_string_lossy()
        .into_owned();
    let parent = out.parent().unwrap_or(Path::new(""));
    for i in 0u32.. {
        let p = parent.join(format!(".{name}.{tag}-{}-{i}", std::process::id()));
        if fs::symlink_metadata(&p).is_err() {
            return Ok(p);
        }
    }
    unreachable!("some sibling name is free")
}

/// Writes `files` and the manifest (with `files`' entries appended to `manifest.files`) to `out`.
/// Everything goes to a temporary directory beside `out` first, which is renamed to `out` at the
/// end; on any error it is removed and `out` is left as it was.
pub fn write_dir(out: &Path, mut manifest: Manifest, files: &[GoldenFile]) -> Result<()> {
    check_target(out)?;
    manifest.files = files.iter().map(|f| f.entry.clone()).collect();
    manifest.check(&out.join(MANIFEST))?;
    let text = manifest.to_toml()?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let tmp = TempDir {
        path: sibling(out, "golden-tmp")?,
        keep: false,
    };
    fs::create_dir(&tmp.path).map_err(|e| Error::io(&tmp.path, e))?;
    let mut dirs = BTreeSet::new();
    for f in files {
        let path = tmp.path.join(&f.entry.path);
        if let Some(d) = path.parent()
            && dirs.insert(d.to_path_buf())
        {
            fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
        }
        let body = hex::encode(&f.data, f.entry.bits, f.entry.signed)
            .map_err(|e| Error::Invalid(format!("golden vectors: tensor {}: {e}", f.entry.name)))?;
        if f.data.len() != f.entry.elements {
            return Err(Error::Invalid(format!(
                "golden vectors: tensor {}: {} elements for shape {:?}",
                f.entry.name,
                f.data.len(),
                f.entry.shape
            )));
        }
        fs::write(&path, body).map_err(|e| Error::io(&path, e))?;
    }
    let mpath = tmp.path.join(MANIFEST);
    fs::write(&mpath, text).map_err(|e| Error::io(&mpath, e))?;
    install(&tmp.path, out)?;
    let mut tmp = tmp;
    tmp.keep = true;
    Ok(())
}

/// Renames the finished `tmp` to `out`, replacing an empty or earlier golden directory there.
fn install(tmp: &Path, out: &Path) -> Result<()> {
    // Checked again: something may have appeared at `out` meanwhile.
    check_target(out)?;
    if fs::symlink_metadata(out).is_err() {
        return fs::rename(tmp, out).map_err(|e| Error::io(out, e));
    }
    let old = sibling(out, "golden-old")?;
    fs::rename(out, &old).map_err(|e| Error::io(out, e))?;
    if let Err(e) = fs::rename(tmp, out) {
        let _ = fs::rename(&old, out);
        return Err(Error::io(out, e));
    }
    fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))
}

/// The elements of one element file's bytes, parsed as its manifest entry says (what
/// [`GoldenDir::read`] does after reading the file at `path`). Errors read `FILE:LINE: problem`.
pub fn parse_file(
    entry: &super::manifest::FileEntry,
    bytes: &[u8],
    path: &Path,
) -> Result<Vec<i128>> {
    hex::parse(bytes, &entry.layout()).map_err(|e| {
        Error::Invalid(format!(
            "{}:{}: {} (tensor {}, {} {:?})",
            path.display(),
            e.line,
            e.problem,
            entry.name,
            entry.type_name(),
            entry.shape
        ))
    })
}

/// A golden-vector directory opened for reading.
#[derive(Clone, Debug)]
pub struct GoldenDir {
    pub root: PathBuf,
    pub manifest: Manifest,
}

impl GoldenDir {
    /// Reads and checks `dir/manifest.toml`.
    pub fn open(dir: &Path) -> Result<GoldenDir> {
        let path = dir.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let manifest = Manifest::parse(&text, &path)?;
        Ok(GoldenDir {
            root: dir.to_path_buf(),
            manifest,
        })
    }

    /// The elements of one file, parsed as its entry says. Errors read `FILE:LINE: problem`.
    pub fn read(&self, entry: &super::manifest::FileEntry) -> Result<Vec<i128>> {
        let path = self.root.join(&entry.path);
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        parse_file(entry, &bytes, &path)
    }

    /// The elements of tensor `name`.
    pub fn tensor(&self, name: &str) -> Result<Vec<i128>> {
        let entry = self.manifest.entry(name).ok_or_else(|| {
            Error::Invalid(format!(
                "{}: no tensor {name:?} in the manifest",
                self.root.display()
            ))
        })?;
        self.read(entry)
    }

    /// Reads every file the manifest lists, and checks that the directory holds nothing else.
    /// Returns the number of elements read.
    pub fn verify(&self) -> Result<usize> {
        let mut total = 0;
        for entry in &self.manifest.files {
            total += self.read(entry)?.len();
        }
        let listed: BTreeSet<PathBuf> = self
            .manifest
            .files
            .iter()
            .map(|f| PathBuf::from(&f.path))
            .chain([PathBuf::from(MANIFEST)])
            .collect();
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            let dir = self.root.join(&rel);
            for item in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let item = item.map_err(|e| Error::io(&dir, e))?;
                let r = rel.join(item.file_name());
                let ty = item.file_type().map_err(|e| Error::io(item.path(), e))?;
                if ty.is_dir() {
                    stack.push(r);
                } else if !listed.contains(&r) {
                    return Err(Error::Invalid(format!(
                        "{}: not listed in {MANIFEST}",
                        self.root.join(&r).display()
                    )));
                }
            }
        }
        Ok(total)
    }
}

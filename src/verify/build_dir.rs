//! Where the Verilator builds go.
//!
//! * By default, each RTL directory gets its own build directory in the cache,
//!   `CACHE/verify/<name>-<hash>` ([`default_build_dir`]), keyed by the canonical path of the RTL
//!   directory: two RTL directories verified in turn each keep their build, and a re-run only
//!   recompiles what changed.
//! * GNU Make cannot build in a directory whose path holds a space (Verilator's `verilated.mk`
//!   stops with "GNU Make cannot build in directories containing spaces"), and Make syntax gives
//!   other characters a meaning too (`#`, `:`, `$`, `%`, quotes). A requested build directory
//!   outside letters, digits and `/._+-` is therefore replaced by one derived from it in the
//!   cache ([`usable_build_dir`]). The RTL and harness sources are copied into the build directory
//!   ([`super::sources`]), so no path the user chose appears in a Makefile.
//!
//! CACHE is the first Make-safe one of `$XDG_CACHE_HOME/repq-hw`, `$HOME/.cache/repq-hw` and
//! `<temporary directory>/repq-hw-cache` ([`cache_dir`]).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Whether GNU Make and Verilator's generated makefiles can build in `path`: only ASCII letters,
/// digits and `/._+-`.
pub fn make_safe(path: &Path) -> bool {
    path.to_str().is_some_and(|s| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/._+-".contains(&b))
    })
}

/// The cache directory of derived build directories: the first absolute, Make-safe one of
/// `$XDG_CACHE_HOME/repq-hw`, `$HOME/.cache/repq-hw` and `std::env::temp_dir()/repq-hw-cache`.
///
/// # Errors
/// [`Error::Invalid`] when none is Make-safe, naming the candidates and `--build`.
pub fn cache_dir() -> Result<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let candidates: Vec<PathBuf> = [
        env("XDG_CACHE_HOME").map(|d| d.join("repq-hw")),
        env("HOME").map(|d| d.join(".cache").join("repq-hw")),
        Some(std::env::temp_dir().join("repq-hw-cache")),
    ]
    .into_iter()
    .flatten()
    .filter(|d| d.is_absolute())
    .collect();
    candidates
        .iter()
        .find(|d| make_safe(d))
        .cloned()
        .ok_or_else(|| {
            Error::Invalid(format!(
                "no cache directory for the Verilator builds whose path GNU Make accepts (only \
                 letters, digits and /._+-): tried {}; set XDG_CACHE_HOME to such a directory or \
                 give --build DIR",
                candidates
                    .iter()
                    .map(|d| format!("`{}`", d.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The default build directory of the RTL directory `rtl_dir`: `CACHE/verify/<name>-<hash>`,
/// `<name>` its last component reduced to Make-safe characters, `<hash>` the 64-bit FNV-1a of
/// its canonical path (16 hex digits).
///
/// # Errors
/// [`Error::Io`] when `rtl_dir` cannot be resolved; [`cache_dir`]'s error.
pub fn default_build_dir(rtl_dir: &Path) -> Result<PathBuf> {
    let canonical = std::fs::canonicalize(rtl_dir).map_err(|e| Error::io(rtl_dir, e))?;
    Ok(cache_dir()?
        .join("verify")
        .join(derived_name(&canonical, "rtl")))
}

/// The directory Verilator builds in when `requested` is asked for: `requested` (made absolute)
/// when Make can build there, else `CACHE/verify/<name>-<hash>` derived from it (the hash of its
/// absolute path).
///
/// # Errors
/// [`Error::Io`] when `requested` cannot be made absolute; [`cache_dir`]'s error.
pub fn usable_build_dir(requested: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(requested).map_err(|e| Error::io(requested, e))?;
    if make_safe(&abs) {
        return Ok(abs);
    }
    Ok(cache_dir()?
        .join("verify")
        .join(derived_name(&abs, "build")))
}

/// `<name>-<hash>` for `path`: the last component with every character outside `[A-Za-z0-9._-]`
/// replaced by `_` (at most 32 characters; `what` when empty), and the FNV-1a hash of `what` and
/// the path's bytes.
fn derived_name(path: &Path, what: &str) -> String {
    let mut name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name = format!("{what}{name}");
    }
    let mut bytes = what.as_bytes().to_vec();
    bytes.push(0);
    bytes.extend_from_slice(path.as_os_str().as_encoded_bytes());
    format!("{name}-{:016x}", fnv1a64(&bytes))
}

/// 64-bit FNV-1a (Fowler, Noll, Vo): stable across Rust releases, unlike `DefaultHasher`, so a
/// toolchain update keeps the build directories.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn make_safe_paths() {
        for ok in ["/tmp/repq-hw/verify/rtl-0123", "a/b_c.d+e", "/x/y-1"] {
            assert!(make_safe(Path::new(ok)), "{ok}");
        }
        for bad in [
            "/tmp/my rtl",
            "/tmp/rtlü",
            "/a#b",
            "/a:b",
            "/a$b",
            "/a%b",
            "/a'b",
            "",
        ] {
            assert!(!make_safe(Path::new(bad)), "{bad}");
        }
    }

    #[test]
    fn fnv1a64_reference_values() {
        // The published FNV-1a 64 test vectors.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn derived_names_are_make_safe_and_distinct() {
        let a = derived_name(Path::new("/x/my rtl ü"), "rtl");
        let b = derived_name(Path::new("/y/my rtl ü"), "rtl");
        let c = derived_name(Path::new("/x/my rtl ü"), "build");
        assert!(a.starts_with("my_rtl__-"), "{a}");
        assert!(make_safe(Path::new(&a)), "{a}");
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert!(derived_name(Path::new("/"), "rtl").starts_with("rtl-"));
        assert!(derived_name(Path::new("/x/.hidden"), "rtl").starts_with("rtl.hidden-"));
    }

    #[test]
    fn unsafe_build_dirs_are_replaced_by_a_derived_safe_one() {
        let safe = usable_build_dir(Path::new("/tmp/b")).unwrap();
        assert_eq!(safe, Path::new("/tmp/b"));
        let derived = usable_build_dir(Path::new("/tmp/my build ü")).unwrap();
        assert!(make_safe(&derived), "{derived:?}");
        assert!(
            derived
                .file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("my_build__-"),
            "{derived:?}"
        );
    }
}

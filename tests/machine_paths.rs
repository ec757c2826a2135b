//! No machine-specific absolute paths in the repository (issue 10, item 9: the demo README and
//! the tools/ docstrings named a virtual environment at an absolute path of one machine).
//!
//! Every tracked file (`git ls-files`; without git, every file under the crate except `target/`,
//! `out/` and hidden directories) is searched, bytes and all, for the roots of home and work
//! directories. Instructions name relative or generic paths instead (`python` of a virtual
//! environment made with tools/requirements.txt).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Absolute roots that only exist on some machine. Built from parts so that this file does not
/// match itself.
fn machine_roots() -> Vec<String> {
    ["work", "root", "home", "Users"]
        .iter()
        .map(|d| format!("/{d}/"))
        .collect()
}

/// Files that may hold such a root, each with the reason. None so far.
const ALLOWED: &[(&str, &str)] = &[];

fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let git = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root)
        .output();
    match git {
        Ok(o) if o.status.success() && !o.stdout.is_empty() => o
            .stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
            .collect(),
        _ => {
            let mut files = Vec::new();
            walk(root, root, &mut files);
            files
        }
    }
}

fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if e.file_type().unwrap().is_dir() {
            let top = dir == root && (name == "target" || name == "out");
            if !top && !name.starts_with('.') {
                walk(root, &p, files);
            }
        } else {
            files.push(p);
        }
    }
}

#[test]
fn no_absolute_machine_paths_in_tracked_files() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = tracked_files(root);
    assert!(files.len() > 50, "only {} files found", files.len());
    let roots = machine_roots();
    let mut found = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if ALLOWED.iter().any(|(p, _)| *p == rel) {
            continue;
        }
        // A tracked file deleted in the working tree is not there to check.
        let Ok(bytes) = std::fs::read(f) else {
            continue;
        };
        for r in &roots {
            for (i, w) in bytes.windows(r.len()).enumerate() {
                if w == r.as_bytes() {
                    let line = bytes[..i].iter().filter(|&&b| b == b'\n').count() + 1;
                    found.push(format!("{rel}:{line}: `{r}`"));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "machine-specific absolute paths (use a relative or generic path instead):\n{}",
        found.join("\n")
    );
}

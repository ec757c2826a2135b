//! A torchvision-style `ImageFolder` data set, decoded and transformed in parallel batches.
//!
//! Layout: `ROOT/<class>/.../<image>`. As in torchvision:
//!
//! * the classes are the subdirectories of `ROOT` (symlinks followed), sorted by name; a class's
//!   label is its position in that order;
//! * each class folder is walked recursively (`os.walk(followlinks=True)`), directories in the
//!   order of their full path string, files within a directory sorted by name;
//! * a file is an image if its name ends, case-insensitively, in `.jpg`, `.jpeg` or `.png`;
//! * a class folder without any image is an error (torchvision's `allow_empty=False`).
//!
//! Unlike torchvision, hidden directories (names starting with `.`, such as
//! `.ipynb_checkpoints` or `.git`) are never classes and are not walked into: torchvision would
//! make `.ipynb_checkpoints` class 0 and shift every label. They are listed in
//! [`ImageFolder::skipped`] so that callers can say so.
//!
//! Unlike torchvision, a file with one of the other extensions torchvision would load (`.bmp`,
//! `.ppm`, `.pgm`, `.tif`, `.tiff`, `.webp`) is an error rather than silently skipped, because
//! skipping it would evaluate on a different set than timm does; this crate decodes only PNG
//! and JPEG.
//!
//! [`ImageFolder::batches`] decodes ([`crate::data::decode`]) and transforms
//! ([`EvalTransform`]) each batch in parallel on rayon's global pool, one image per task.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::data::decode::open_rgb;
use crate::data::transform::EvalTransform;
use crate::error::{Error, Result};

/// Extensions (lower case, with the dot) this data set loads.
const IMAGE_EXTENSIONS: [&str; 3] = [".jpg", ".jpeg", ".png"];
/// Extensions torchvision's ImageFolder would also load, which this crate cannot decode.
const OTHER_TORCHVISION_EXTENSIONS: [&str; 6] = [".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp"];

/// One image of the data set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub path: PathBuf,
    /// Index of the image's class in [`ImageFolder::classes`].
    pub label: usize,
}

/// The index of an ImageFolder directory: class names and the ordered list of images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageFolder {
    root: PathBuf,
    classes: Vec<String>,
    samples: Vec<Sample>,
    skipped: Vec<PathBuf>,
}

impl ImageFolder {
    /// Scans `root` (reading directories only, no image is decoded here).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let dataset_err = |path: &Path, reason: String| Error::Dataset {
            path: path.to_path_buf(),
            reason,
        };
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(dataset_err(root, "not a directory".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(dataset_err(root, "no such directory".into()));
            }
            Err(e) => return Err(Error::io(root, e)),
        }

        let mut skipped = Vec::new();
        let mut class_dirs: Vec<(OsString, PathBuf)> = Vec::new();
        for e in list_dir(root)?.into_iter().filter(|e| e.is_dir) {
            if is_hidden(&e.name) {
                skipped.push(e.path);
            } else {
                class_dirs.push((e.name, e.path));
            }
        }
        if class_dirs.is_empty() {
            return Err(dataset_err(
                root,
                "no class folders: an ImageFolder holds one subfolder per class (for \
                 calibration, a flat folder of images also works)"
                    .into(),
            ));
        }
        class_dirs.sort_by(|a, b| a.0.as_encoded_bytes().cmp(b.0.as_encoded_bytes()));

        let mut classes = Vec::with_capacity(class_dirs.len());
        let mut samples = Vec::new();
        for (label, (name, dir)) in class_dirs.iter().enumerate() {
            let before = samples.len();
            for path in walk_images(dir, &mut skipped)? {
                samples.push(Sample { path, label });
            }
            if samples.len() == before {
                return Err(dataset_err(
                    dir,
                    format!(
                        "class folder holds no image (files ending in {})",
                        IMAGE_EXTENSIONS.join(", ")
                    ),
                ));
            }
            classes.push(name.to_string_lossy().into_owned());
        }
        skipped.sort();
        Ok(ImageFolder {
            root: root.to_path_buf(),
            classes,
            samples,
            skipped,
        })
    }

    /// The class-to-index map as text, one `index  folder` line each (with the model's label
    /// for that index when `labels` are given), if it is worth showing: when the folder's class
    /// count differs from the model's `num_classes`, or its folder names from the model's
    /// labels. `None` when they agree.
    pub fn class_map_note(&self, num_classes: usize, labels: Option<&[String]>) -> Option<String> {
        let count_differs = self.classes.len() != num_classes;
        let names_differ = labels.is_some_and(|l| {
            l.len() < self.classes.len() || self.classes.iter().zip(l).any(|(a, b)| a != b)
        });
        if !count_differs && !names_differ {
            return None;
        }
        let why = if count_differs {
            format!(
                "{} class folders for a model of {num_classes} classes",
                self.classes.len()
            )
        } else {
            "the class folder names differ from the model's labels".to_string()
        };
        let mut s = format!(
            "{}: {why}; labels are the folders' positions in sorted order:",
            self.root.display()
        );
        for (i, c) in self.classes.iter().enumerate() {
            s += &format!("\n  {i:>5}  {c}");
            if let Some(l) = labels.and_then(|l| l.get(i)) {
                s += &format!("  (model label {i}: {l})");
            }
        }
        Some(s)
    }

    /// The hidden directories that were not read (neither classes nor walked into), sorted.
    pub fn skipped(&self) -> &[PathBuf] {
        &self.skipped
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Class names in label order.
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Every image with its label, in data set order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// Number of images (the total for a progress bar).
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Decodes and transforms image `index` to CHW f32.
    pub fn load(&self, index: usize, transform: &EvalTransform) -> Result<(Vec<f32>, usize)> {
        let s = self.samples.get(index).ok_or_else(|| Error::Dataset {
            path: self.root.clone(),
            reason: format!("no image {index}: the data set holds {}", self.len()),
        })?;
        let img = open_rgb(&s.path)?;
        Ok((transform.apply(&img)?, s.label))
    }

    /// The images in order, `batch_size` at a time (the last batch may be smaller; a
    /// `batch_size` of 0 is taken as 1). Each batch is decoded and transformed in parallel.
    pub fn batches<'a>(&'a self, transform: &'a EvalTransform, batch_size: usize) -> Batches<'a> {
        Batches {
            folder: self,
            transform,
            batch_size: batch_size.max(1),
            next: 0,
            failed: false,
        }
    }
}

/// A batch of transformed images.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// `[B, 3, H, W]` f32, row-major.
    pub data: Vec<f32>,
    /// `[B, 3, H, W]`.
    pub shape: [usize; 4],
    /// The class label of each image.
    pub labels: Vec<usize>,
    /// Index of the batch's first image in [`ImageFolder::samples`].
    pub start: usize,
}

impl Batch {
    /// Number of images in the batch.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// Iterator over the batches of an [`ImageFolder`]. After an error it yields nothing more.
#[derive(Debug)]
pub struct Batches<'a> {
    folder: &'a ImageFolder,
    transform: &'a EvalTransform,
    batch_size: usize,
    next: usize,
    failed: bool,
}

impl Iterator for Batches<'_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let total = self.folder.len();
        if self.failed || self.next >= total {
            return None;
        }
        let start = self.next;
        let end = (start + self.batch_size).min(total);
        self.next = end;
        let samples = &self.folder.samples[start..end];
        let paths: Vec<&Path> = samples.iter().map(|s| s.path.as_path()).collect();
        match transform_files(&paths, self.transform) {
            Ok(data) => {
                let [h, w] = self.transform.input_size();
                Some(Ok(Batch {
                    data,
                    shape: [samples.len(), 3, h, w],
                    labels: samples.iter().map(|s| s.label).collect(),
                    start,
                }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = if self.failed {
            0
        } else {
            (self.folder.len() - self.next).div_ceil(self.batch_size)
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches<'_> {}

/// Decodes and transforms `paths` in parallel into one `[B, 3, H, W]` buffer. On failure returns
/// the error of the first failing file in `paths` order.
pub fn transform_files(paths: &[&Path], transform: &EvalTransform) -> Result<Vec<f32>> {
    let per = transform.output_len();
    let mut data = vec![0f32; per * paths.len()];
    let results: Vec<Result<()>> = data
        .par_chunks_mut(per)
        .zip(paths.par_iter())
        .with_max_len(1)
        .map(|(out, path)| {
            let img = open_rgb(path)?;
            transform.apply_into(&img, out)
        })
        .collect();
    results.into_iter().collect::<Result<()>>()?;
    Ok(data)
}

/// A directory entry, with symlinks followed for `is_dir` (like `os.DirEntry.is_dir()`).
struct Entry {
    name: OsString,
    path: PathBuf,
    is_dir: bool,
}

fn list_dir(dir: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        // A broken symlink is not a directory (metadata fails), as in Python.
        let is_dir = std::fs::metadata(&path)
            .map(|m| m.is_dir())
            .unwrap_or(false);
        out.push(Entry {
            name: entry.file_name(),
            path,
            is_dir,
        });
    }
    Ok(out)
}

/// Whether a file or directory name is hidden (starts with `.`).
fn is_hidden(name: &std::ffi::OsStr) -> bool {
    name.as_encoded_bytes().first() == Some(&b'.')
}

/// Every image file under `root` for calibration, which needs no labels: a flat folder of
/// images, an ImageFolder, or any mix, walked as [`ImageFolder`] walks a class (torchvision's
/// order, hidden directories skipped and added to `skipped`). An error if there is none.
pub fn list_images(root: &Path, skipped: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(Error::Dataset {
                path: root.to_path_buf(),
                reason: "not a directory".into(),
            });
        }
        Err(e) => return Err(Error::io(root, e)),
    }
    let images = walk_images(root, skipped)?;
    if images.is_empty() {
        return Err(Error::Dataset {
            path: root.to_path_buf(),
            reason: format!(
                "no image under this folder (files ending in {}; hidden folders are skipped)",
                IMAGE_EXTENSIONS.join(", ")
            ),
        });
    }
    Ok(images)
}

/// All image files under `top`, in torchvision's order: `sorted(os.walk(top, followlinks=True))`
/// (directories by full path string), then files sorted by name within each directory. A
/// directory reached twice through symlinks is walked once; hidden directories are not walked
/// into (they are added to `skipped`).
fn walk_images(top: &Path, skipped: &mut Vec<PathBuf>) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<(PathBuf, Vec<Entry>)> = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![top.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let canonical = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, e))?;
        if !seen.insert(canonical) {
            continue;
        }
        let entries = list_dir(&dir)?;
        for e in entries.iter().filter(|e| e.is_dir) {
            if is_hidden(&e.name) {
                skipped.push(e.path.clone());
            } else {
                stack.push(e.path.clone());
            }
        }
        dirs.push((dir, entries));
    }
    dirs.sort_by(|a, b| {
        a.0.as_os_str()
            .as_encoded_bytes()
            .cmp(b.0.as_os_str().as_encoded_bytes())
    });
    let mut images = Vec::new();
    for (_, mut entries) in dirs {
        entries.retain(|e| !e.is_dir);
        entries.sort_by(|a, b| a.name.as_encoded_bytes().cmp(b.name.as_encoded_bytes()));
        for e in entries {
            let lower = e.name.to_string_lossy().to_lowercase();
            if IMAGE_EXTENSIONS.iter().any(|x| lower.ends_with(x)) {
                images.push(e.path);
            } else if OTHER_TORCHVISION_EXTENSIONS
                .iter()
                .any(|x| lower.ends_with(x))
            {
                return Err(Error::Dataset {
                    path: e.path,
                    reason: "torchvision's ImageFolder would load this file, but only PNG and \
                             JPEG images are supported; convert or remove it"
                        .into(),
                });
            }
        }
    }
    Ok(images)
}

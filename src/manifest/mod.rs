//! Manifests as users write them: the kinds, loading from files, and validation with
//! `FILE:LINE:COLUMN` diagnostics (SPEC §1). No network, no database.
//!
//! The pipeline: [`load`] walks the files (this module), each file is read into YAML nodes that
//! keep what was written and where (`yaml`), each document is typed by its kind's JSON Schema
//! (`convert`) and checked on its own (`check`), then the rules across documents and the files
//! they name are checked and the [`Desired`] state is built (`rules`). Errors are collected, never
//! returned early: one broken file, or one broken document of a file, does not hide the mistakes
//! of another.

mod check;
mod convert;
pub mod diagnostic;
pub mod kinds;
pub mod limits;
pub mod positions;
mod rules;
pub mod schema;
pub mod yaml;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};

use crate::desired::Desired;
use check::{Checked, Declared, FileCtx};

/// A manifest set that passed validation.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated, resolved desired state.
    pub desired: Desired,
    /// Findings that do not make the manifests invalid.
    pub warnings: Vec<Diagnostic>,
    /// Number of portalctl documents (other YAML documents are not counted).
    pub documents: usize,
    /// Number of YAML files read (including ones holding no manifest, such as OpenAPI files).
    pub files: usize,
}

/// Directories deeper than this are not walked: it stops symlink loops.
const MAX_DEPTH: usize = 64;

/// Loads and validates the manifests at `path`, a file or a directory walked recursively for
/// `*.yaml` and `*.yml` in sorted order. Returns every error found, in file order.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    load_with_warnings(path).0
}

/// Loads like [`load`], and also returns the warnings when there are errors (for `validate`,
/// which prints both).
pub fn load_with_warnings(path: &Path) -> (Result<Loaded, Diagnostics>, Vec<Diagnostic>) {
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let files = match list_files(path) {
        Ok(files) => files,
        Err(d) => return (Err(Diagnostics(vec![d])), warnings),
    };
    let (docs, declared, documents) = load_files(&files, &mut errors);
    let desired = rules::resolve_all(docs, &declared, &mut errors, &mut warnings);
    // Per-document and cross-document findings are found in two passes; print them in the order
    // of the files instead.
    let order = |d: &Diagnostic| (d.file.clone(), d.line, d.column);
    errors.sort_by_key(order);
    warnings.sort_by_key(order);
    if errors.is_empty() {
        let loaded = Loaded {
            desired,
            warnings: warnings.clone(),
            documents,
            files: files.len(),
        };
        (Ok(loaded), warnings)
    } else {
        (Err(Diagnostics(errors)), warnings)
    }
}

/// What the files hold: valid documents, what invalid ones declare, and how many manifests.
#[derive(Default)]
struct FileDocs {
    docs: Vec<check::Doc>,
    declared: Vec<Declared>,
    errors: Vec<Diagnostic>,
    count: usize,
}

/// Reads and checks the files, several at once on machines with several cores; documents and
/// errors come back in file order whatever the threads did.
fn load_files(
    files: &[PathBuf],
    errors: &mut Vec<Diagnostic>,
) -> (Vec<check::Doc>, Vec<Declared>, usize) {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let mut all = FileDocs::default();
    let mut merge = |f: FileDocs| {
        all.docs.extend(f.docs);
        all.declared.extend(f.declared);
        errors.extend(f.errors);
        all.count += f.count;
    };
    if threads <= 1 {
        for file in files {
            merge(load_file(file));
        }
    } else {
        let slots: Vec<std::sync::Mutex<Option<FileDocs>>> =
            files.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(file) = files.get(i) else { break };
                    let loaded = load_file(file);
                    if let Ok(mut slot) = slots[i].lock() {
                        *slot = Some(loaded);
                    }
                });
            }
        });
        for slot in slots {
            if let Some(f) = slot.into_inner().ok().flatten() {
                merge(f);
            }
        }
    }
    (all.docs, all.declared, all.count)
}

/// Words for an IO error, lowercase like every other message.
fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// The manifest files under `path`, in the order they are checked.
fn list_files(path: &Path) -> Result<Vec<PathBuf>, Diagnostic> {
    let meta = std::fs::metadata(path).map_err(|e| {
        Diagnostic::error(
            path,
            1,
            1,
            format!("cannot read `{}`: {}", path.display(), io_words(&e)),
        )
    })?;
    if !meta.is_dir() {
        // A file named explicitly is read whatever its extension.
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    walk(path, 0, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), Diagnostic> {
    let cannot = |e: std::io::Error| {
        Diagnostic::error(
            dir,
            1,
            1,
            format!(
                "cannot read directory `{}`: {}",
                dir.display(),
                io_words(&e)
            ),
        )
    };
    if depth > MAX_DEPTH {
        return Err(Diagnostic::error(
            dir,
            1,
            1,
            format!("directories nested more than {MAX_DEPTH} deep (a symlink loop?)"),
        ));
    }
    let mut entries: Vec<(std::ffi::OsString, PathBuf)> = std::fs::read_dir(dir)
        .map_err(cannot)?
        .filter_map(Result::ok)
        .map(|e| (e.file_name(), e.path()))
        // Hidden entries (`.git`, editor folders) are never manifests.
        .filter(|(name, _)| !name.to_string_lossy().starts_with('.'))
        .collect();
    entries.sort();
    for (_, p) in entries {
        // Symlinks are followed, so a linked folder of manifests works.
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            walk(&p, depth + 1, out)?;
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads one file and checks each of its documents on its own.
fn load_file(path: &Path) -> FileDocs {
    let mut out = FileDocs::default();
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            out.errors.push(Diagnostic::error(
                path,
                1,
                1,
                format!("cannot read file: {}", io_words(&e)),
            ));
            return out;
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        out.errors.push(Diagnostic::error(
            path,
            1,
            1,
            "file is not UTF-8 text".into(),
        ));
        return out;
    };
    // Columns count characters after the byte order mark, as editors show them.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let file = FileCtx {
        path: Arc::from(path),
        dir: Arc::from(path.parent().unwrap_or(Path::new(""))),
    };
    for document in yaml::read(text) {
        match check::check(&file, document, &mut out.errors) {
            Checked::Skipped => {}
            Checked::Invalid(declared) => {
                out.count += 1;
                out.declared.extend(declared);
            }
            Checked::Valid(doc) => {
                out.count += 1;
                out.docs.push(*doc);
            }
        }
    }
    out
}

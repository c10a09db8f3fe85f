//! Manifests as users write them: the kinds, loading from files, and validation with
//! `FILE:LINE:COLUMN` diagnostics (SPEC §1). No network, no database.
//!
//! The pipeline: [`load`] walks the files (this module), each document is checked on its own
//! against its kind's JSON Schema (`check`), then the rules across documents and the files they
//! name are checked and the [`Desired`] state is built (`rules`). Errors are collected, never
//! returned early: one broken file does not hide the mistakes of another.

mod check;
pub mod diagnostic;
pub mod kinds;
pub mod positions;
mod rules;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub use diagnostic::{Diagnostic, Diagnostics, Severity};

use crate::desired::Desired;
use check::{Checked, FileCtx};
use positions::{DocPositions, Pos};

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
    let (docs, documents) = load_files(&files, &mut errors);
    let desired = rules::resolve_all(docs, &mut errors, &mut warnings);
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

/// Reads and checks the files, several at once on machines with several cores; documents and
/// errors come back in file order whatever the threads did.
fn load_files(files: &[PathBuf], errors: &mut Vec<Diagnostic>) -> (Vec<check::Doc>, usize) {
    type Slot = std::sync::Mutex<Option<(usize, Vec<check::Doc>, Vec<Diagnostic>)>>;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len());
    let mut docs = Vec::new();
    let mut documents = 0;
    if threads <= 1 {
        for file in files {
            documents += load_file(file, &mut docs, errors);
        }
        return (docs, documents);
    }
    let slots: Vec<Slot> = files.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(file) = files.get(i) else { break };
                let (mut d, mut e) = (Vec::new(), Vec::new());
                let n = load_file(file, &mut d, &mut e);
                if let Ok(mut slot) = slots[i].lock() {
                    *slot = Some((n, d, e));
                }
            });
        }
    });
    for slot in slots {
        if let Some((n, d, e)) = slot.into_inner().ok().flatten() {
            documents += n;
            docs.extend(d);
            errors.extend(e);
        }
    }
    (docs, documents)
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

/// 1-based line and column of a byte offset, counting only `\n` as a line break (serde_yaml
/// also counts a lone `\r`, which editors and `str::lines` do not).
fn line_column(text: &str, index: usize) -> (u32, u32) {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    let before = &text[..index];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line as u32, column as u32)
}

/// Reads one file, checks its documents, and returns how many were portalctl manifests.
fn load_file(path: &Path, docs: &mut Vec<check::Doc>, errors: &mut Vec<Diagnostic>) -> usize {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            errors.push(Diagnostic::error(
                path,
                1,
                1,
                format!("cannot read file: {}", io_words(&e)),
            ));
            return 0;
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        errors.push(Diagnostic::error(
            path,
            1,
            1,
            "file is not UTF-8 text".into(),
        ));
        return 0;
    };
    // Both parsers must see the same characters for columns to agree.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let file = FileCtx {
        path: Arc::from(path),
        dir: Arc::from(path.parent().unwrap_or(Path::new(""))),
    };
    let mut positions = positions::index(text).into_iter();
    let mut count = 0;
    for document in serde_yaml::Deserializer::from_str(text) {
        let pos = positions
            .next()
            .unwrap_or_else(|| DocPositions::unknown(Pos::START));
        match serde_yaml::Value::deserialize(document) {
            Ok(value) => match check::check(&file, value, pos, errors) {
                Checked::Skipped => {}
                Checked::Invalid => count += 1,
                Checked::Valid(doc) => {
                    count += 1;
                    docs.push(*doc);
                }
            },
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| line_column(text, l.index()))
                    .unwrap_or((pos.start.line, pos.start.column));
                errors.push(Diagnostic::error(
                    path,
                    line,
                    column,
                    format!("invalid YAML: {}", yaml_message(&e)),
                ));
                // serde_yaml repeats the same error forever after a syntax error: the rest of
                // the file cannot be read.
                break;
            }
        }
    }
    count
}

/// serde_yaml's message without its trailing "at line L column C" (the location is printed
/// in front already).
fn yaml_message(e: &serde_yaml::Error) -> String {
    let s = e.to_string();
    match s.find(" at line ") {
        Some(i) => {
            let rest = &s[i + " at line ".len()..];
            // Keep anything after the location (", while parsing a flow node").
            let tail = rest.find(',').map(|j| &rest[j..]).unwrap_or("");
            format!("{}{}", &s[..i], tail)
        }
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::line_column;

    #[test]
    fn lone_carriage_returns_do_not_count_as_lines() {
        // serde_yaml would say line 3 here; editors and the rest of our positions say line 2.
        let text = "a: 1\rb: [\nc";
        assert_eq!(line_column(text, text.len()), (2, 2));
        assert_eq!(line_column("é: [", 4), (1, 4));
    }
}

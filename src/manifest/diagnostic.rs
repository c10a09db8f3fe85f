//! Located diagnostics: `FILE:LINE:COLUMN: error: MESSAGE` plus an optional hint, in text and JSON.
//!
//! This module only formats what the loader found; it decides nothing about what is wrong. A
//! diagnostic never carries the content of a secret: messages are built from manifest values,
//! and secrets are never manifest values (SPEC §1.1).

use std::fmt;
use std::path::PathBuf;

use serde_json::{json, Value};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The manifests cannot be applied.
    Error,
    /// Worth a look, but the manifests are valid.
    Warning,
}

impl Severity {
    /// `error` or `warning`, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding, placed on the offending value (or on the document when no better place exists).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Diagnostic {
    /// The manifest file, as the loader found it (the `-f` path joined with the walked entries).
    pub file: PathBuf,
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// What is wrong, lowercase, without trailing period.
    pub message: String,
    /// How to fix it, when one can say.
    pub hint: Option<String>,
    /// Error or warning.
    pub severity: Severity,
}

impl Diagnostic {
    /// An error at a place.
    pub fn error(file: impl Into<PathBuf>, line: u32, column: u32, message: String) -> Self {
        Diagnostic {
            file: file.into(),
            line: line.max(1),
            column: column.max(1),
            message,
            hint: None,
            severity: Severity::Error,
        }
    }

    /// A warning at a place.
    pub fn warning(file: impl Into<PathBuf>, line: u32, column: u32, message: String) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(file, line, column, message)
        }
    }

    /// The same diagnostic with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// The same diagnostic with an optional hint.
    pub fn with_hint_opt(mut self, hint: Option<String>) -> Self {
        self.hint = hint;
        self
    }

    /// `FILE:LINE:COLUMN`, as used in hints that point at another place.
    pub fn place(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.column)
    }

    /// The JSON object of SPEC §1.3: `{file, line, column, message, hint}`.
    pub fn to_json(&self) -> Value {
        json!({
            "file": self.file.display().to_string(),
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        })
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.place(),
            self.severity.as_str(),
            self.message
        )?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every error found in a manifest set, in file order; `manifest::load` returns it on failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// `{"errors":[…],"warnings":[…]}` as SPEC §1.3 prints it with `--output json`.
    pub fn to_json(&self, warnings: &[Diagnostic]) -> Value {
        json!({
            "errors": self.0.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
            "warnings": warnings.iter().map(Diagnostic::to_json).collect::<Vec<_>>(),
        })
    }

    /// Number of diagnostics.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over the diagnostics.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    /// One diagnostic per line (each followed by its hint line, if any).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_place_severity_message_and_hint() {
        let d = Diagnostic::error("a/b.yaml", 3, 7, "unknown field `x`".into())
            .with_hint("did you mean `y`?");
        assert_eq!(
            d.to_string(),
            "a/b.yaml:3:7: error: unknown field `x`\n  hint: did you mean `y`?"
        );
        let all = Diagnostics(vec![d.clone(), d]);
        assert_eq!(all.to_string().lines().count(), 4);
    }

    #[test]
    fn json_has_the_spec_fields() {
        let d = Diagnostic::warning("f.yaml", 1, 1, "w".into());
        let v = Diagnostics(vec![]).to_json(&[d]);
        assert_eq!(v["errors"], json!([]));
        assert_eq!(
            v["warnings"][0],
            json!({"file": "f.yaml", "line": 1, "column": 1, "message": "w", "hint": null})
        );
    }
}

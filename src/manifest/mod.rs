//! Manifests as users write them: the kinds, loading from files, and validation with
//! `FILE:LINE:COLUMN` diagnostics. No network, no database.
//!
//! PROVISIONAL loader (replaced by the manifest branch at merge): no positions, few checks.

pub mod kinds;

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::desired::{Catalog, Desired, Organisation, Plan, Product, Provider, Source, Team};
use kinds::*;

/// Severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Error.
    Error,
    /// Warning.
    Warning,
}

/// A located message.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    /// File.
    pub file: PathBuf,
    /// Line.
    pub line: u32,
    /// Column.
    pub column: u32,
    /// Message.
    pub message: String,
    /// Hint.
    pub hint: Option<String>,
    /// Severity.
    pub severity: Severity,
}

/// All errors.
#[derive(Debug, Clone)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl std::fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for d in &self.0 {
            writeln!(
                f,
                "{}:{}:{}: error: {}",
                d.file.display(),
                d.line,
                d.column,
                d.message
            )?;
        }
        Ok(())
    }
}
impl std::error::Error for Diagnostics {}

/// Loaded manifests.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// Desired.
    pub desired: Desired,
    /// Warnings.
    pub warnings: Vec<Diagnostic>,
    /// Documents.
    pub documents: usize,
}

#[derive(Deserialize)]
struct Doc {
    kind: String,
    metadata: Metadata,
    spec: serde_yaml::Value,
}

fn files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            files(&e, out);
        }
    } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
        out.push(path.to_owned());
    }
}

/// Loads manifests.
pub fn load(path: &Path) -> Result<Loaded, Diagnostics> {
    let err = |file: &Path, message: String| {
        Diagnostics(vec![Diagnostic {
            file: file.to_owned(),
            line: 1,
            column: 1,
            message,
            hint: None,
            severity: Severity::Error,
        }])
    };
    let mut list = vec![];
    files(path, &mut list);
    let mut d = Desired::default();
    let mut documents = 0;
    for f in list {
        let text = std::fs::read_to_string(&f).map_err(|e| err(&f, e.to_string()))?;
        let dir = f.parent().unwrap_or(Path::new(".")).to_owned();
        for de in serde_yaml::Deserializer::from_str(&text) {
            let v = serde_yaml::Value::deserialize(de).map_err(|e| err(&f, e.to_string()))?;
            if v.get("kind").is_none() {
                continue;
            }
            documents += 1;
            let doc: Doc = serde_yaml::from_value(v).map_err(|e| err(&f, e.to_string()))?;
            let source = Source {
                file: f.clone(),
                line: 1,
            };
            let name = doc.metadata.name.clone();
            match doc.kind.as_str() {
                "Provider" => {
                    let mut spec: ProviderSpec = serde_json::from_value(
                        serde_json::to_value(&doc.spec).map_err(|e| err(&f, e.to_string()))?,
                    )
                    .map_err(|e| err(&f, e.to_string()))?;
                    if let SecretRef::FromFile(p) = &spec.secret {
                        spec.secret = SecretRef::FromFile(dir.join(p));
                    }
                    d.providers
                        .insert(name.clone(), Provider { name, spec, source });
                }
                "Product" => {
                    let spec: ProductSpec = serde_json::from_value(
                        serde_json::to_value(&doc.spec).map_err(|e| err(&f, e.to_string()))?,
                    )
                    .map_err(|e| err(&f, e.to_string()))?;
                    let content = spec
                        .content
                        .as_ref()
                        .and_then(|c| std::fs::read_to_string(dir.join(c)).ok());
                    let mut openapi = std::collections::BTreeMap::new();
                    for a in &spec.apis {
                        if let Some(o) = &a.openapi {
                            if let Ok(t) = std::fs::read_to_string(dir.join(o)) {
                                openapi.insert(a.api_id.clone(), t);
                            }
                        }
                    }
                    d.products.insert(
                        name.clone(),
                        Product {
                            name,
                            spec,
                            source,
                            content,
                            guides: vec![],
                            openapi,
                            logo: None,
                        },
                    );
                }
                "Plan" => {
                    let spec: PlanSpec = serde_json::from_value(
                        serde_json::to_value(&doc.spec).map_err(|e| err(&f, e.to_string()))?,
                    )
                    .map_err(|e| err(&f, e.to_string()))?;
                    d.plans.insert(name.clone(), Plan { name, spec, source });
                }
                "Catalog" => {
                    let spec: CatalogSpec = serde_json::from_value(
                        serde_json::to_value(&doc.spec).map_err(|e| err(&f, e.to_string()))?,
                    )
                    .map_err(|e| err(&f, e.to_string()))?;
                    d.catalogs
                        .insert(name.clone(), Catalog { name, spec, source });
                }
                "Organisation" => {
                    let spec: OrganisationSpec = serde_json::from_value(
                        serde_json::to_value(&doc.spec).map_err(|e| err(&f, e.to_string()))?,
                    )
                    .map_err(|e| err(&f, e.to_string()))?;
                    d.organisations
                        .insert(name.clone(), Organisation { name, spec, source });
                }
                "Team" => {
                    let spec: TeamSpec = serde_json::from_value(
                        serde_json::to_value(&doc.spec).map_err(|e| err(&f, e.to_string()))?,
                    )
                    .map_err(|e| err(&f, e.to_string()))?;
                    let reference = TeamRef {
                        org: spec.organisation.clone(),
                        team: name,
                    };
                    d.teams.insert(
                        reference.clone(),
                        Team {
                            reference,
                            spec,
                            source,
                        },
                    );
                }
                k => return Err(err(&f, format!("unknown kind {k}"))),
            }
        }
    }
    Ok(Loaded {
        desired: d,
        warnings: vec![],
        documents,
    })
}

//! Runtime configuration (SPEC §6): the one place that reads the configuration file and the
//! environment into a typed [`Settings`].
//!
//! Layers, later wins: built-in defaults, `portal-config/portal.yaml` (or `--config FILE`),
//! `PORTALCTL__SECTION__KEY` environment variables, command-line flags.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::cli::GlobalArgs;

/// The default SQLite database when nothing else is configured.
pub const DEFAULT_DATABASE: &str = "sqlite://portal.db";
/// The default ownership instance.
pub const DEFAULT_INSTANCE: &str = "default";
/// The configuration file used when present and no `--config` is given.
pub const DEFAULT_CONFIG_FILE: &str = "portal-config/portal.yaml";

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` cannot be read.
    #[error("cannot read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column when known.
        message: String,
    },
    /// An environment override is not valid.
    #[error("environment variable {name}: {message}")]
    Env {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Sections read by the portal itself.
const PORTAL_SECTIONS: [&str; 5] = ["signup", "mail", "session", "admin", "branding"];

/// The typed runtime configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Ownership instance: policies carry the tag `portalctl:<instance>`.
    pub instance: String,
    /// Address `serve` listens on.
    pub listen: String,
    /// The portal's public URL (links in mails).
    pub public_url: Option<String>,
    /// Database URL.
    pub database: String,
    /// Manifest path for `serve`.
    pub manifests: Option<PathBuf>,
    /// Continuous reconciliation settings.
    pub reconcile: ReconcileSettings,
    /// Other sections (signup, mail, session, admin, branding) belong to the portal and are
    /// accepted as they are until it reads them.
    #[serde(flatten)]
    pub other: std::collections::BTreeMap<String, serde_yaml::Value>,
}

/// `reconcile:` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ReconcileSettings {
    /// Path to watch.
    pub watch: Option<PathBuf>,
    /// Resync period, e.g. `5m`.
    pub resync: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            instance: DEFAULT_INSTANCE.into(),
            listen: "127.0.0.1:3001".into(),
            public_url: None,
            database: DEFAULT_DATABASE.into(),
            manifests: None,
            reconcile: ReconcileSettings::default(),
            other: Default::default(),
        }
    }
}

impl Settings {
    /// Loads the layers for the given global flags.
    pub fn load(global: &GlobalArgs) -> Result<Settings, ConfigError> {
        let mut s = match &global.config {
            Some(path) => Settings::from_file(path)?,
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                Settings::from_file(Path::new(DEFAULT_CONFIG_FILE))?
            }
            None => Settings::default(),
        };
        s.apply_env(std::env::vars())?;
        if let Some(db) = &global.database {
            s.database = db.clone();
        }
        Ok(s)
    }

    /// Reads a configuration file.
    pub fn from_file(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            return Ok(Settings::default());
        }
        let mut s: Settings = serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: match e.location() {
                Some(l) => format!("line {} column {}: {e}", l.line(), l.column()),
                None => e.to_string(),
            },
        })?;
        if let Some(key) = s
            .other
            .keys()
            .find(|k| !PORTAL_SECTIONS.contains(&k.as_str()))
        {
            return Err(ConfigError::Parse {
                path: path.to_owned(),
                message: format!(
                    "unknown key {key:?}; known keys: instance, listen, publicUrl, database, manifests, reconcile, {}",
                    PORTAL_SECTIONS.join(", ")
                ),
            });
        }
        if s.instance.is_empty() {
            s.instance = DEFAULT_INSTANCE.into();
        }
        Ok(s)
    }

    /// Applies `PORTALCTL__KEY` and `PORTALCTL__RECONCILE__KEY` overrides.
    pub fn apply_env(
        &mut self,
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (name, value) in vars {
            let Some(path) = name.strip_prefix("PORTALCTL__") else {
                continue;
            };
            let parts: Vec<String> = path.split("__").map(|p| p.to_ascii_lowercase()).collect();
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            match parts.as_slice() {
                ["instance"] => self.instance = value,
                ["listen"] => self.listen = value,
                ["publicurl" | "public_url"] => self.public_url = Some(value),
                ["database"] => self.database = value,
                ["manifests"] => self.manifests = Some(value.into()),
                ["reconcile", "watch"] => self.reconcile.watch = Some(value.into()),
                ["reconcile", "resync"] => self.reconcile.resync = Some(value),
                _ => {
                    // Portal sections are read by the portal; unknown keys are not an error here.
                }
            }
        }
        if crate::manifest::kinds::Name::parse(&self.instance).is_err() {
            return Err(ConfigError::Env {
                name: "instance".into(),
                message: format!(
                    "instance {:?} must be lowercase letters, digits and '-'",
                    self.instance
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_file_values() {
        let mut s = Settings::default();
        s.apply_env(
            [
                ("PORTALCTL__INSTANCE".to_string(), "staging".to_string()),
                ("PORTALCTL__RECONCILE__RESYNC".into(), "1m".into()),
            ]
            .into_iter(),
        )
        .unwrap();
        assert_eq!(s.instance, "staging");
        assert_eq!(s.reconcile.resync.as_deref(), Some("1m"));
    }

    #[test]
    fn file_errors_carry_line_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("portal.yaml");
        std::fs::write(&f, "instance: x\ndatabse: sqlite://a.db\n").unwrap();
        let s = Settings::from_file(&f);
        assert!(s
            .unwrap_err()
            .to_string()
            .contains("unknown key \"databse\""));
        std::fs::write(&f, "reconcile:\n  watch: [1, 2]\n").unwrap();
        let e = Settings::from_file(&f).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
    }
}

//! Runtime configuration (SPEC §6): the one place that reads the configuration file and the
//! environment into a typed [`Settings`].

/// The default SQLite database when nothing else is configured.
pub const DEFAULT_DATABASE: &str = "sqlite://portal.db";
/// The default ownership instance.
pub const DEFAULT_INSTANCE: &str = "default";

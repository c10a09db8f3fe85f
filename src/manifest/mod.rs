//! Manifests as users write them: the kinds, loading from files, and validation with
//! `FILE:LINE:COLUMN` diagnostics. No network, no database.

pub mod kinds;

//! The one error type of the Dashboard client.
//!
//! Every variant names the provider and, for HTTP failures, the method, path and status, and carries
//! the Dashboard's `Message`. It must never hold the Dashboard secret: transport failures are kept as
//! text built from the error chain (which holds the URL, never headers).

use std::time::Duration;

/// Everything that can go wrong talking to a Tyk Dashboard.
#[derive(Debug, thiserror::Error)]
pub enum TykError {
    /// The provider's secret could not be read from its environment variable or file.
    #[error("provider {provider}: cannot read the Dashboard secret: {detail}")]
    Secret {
        /// Provider name.
        provider: String,
        /// What is wrong (names the variable or file, never the value).
        detail: String,
    },
    /// The provider's configuration cannot be used (bad URL, TLS setup).
    #[error("provider {provider}: {detail}")]
    Config {
        /// Provider name.
        provider: String,
        /// What is wrong.
        detail: String,
    },
    /// The Dashboard answered with an error status.
    #[error("provider {provider}: {method} {path}: status {status}: {message}{}", attempts_note(*attempts))]
    Status {
        /// Provider name.
        provider: String,
        /// HTTP method.
        method: String,
        /// Path and query.
        path: String,
        /// HTTP status.
        status: u16,
        /// The Dashboard's `Message` (or the start of the body when it is not JSON).
        message: String,
        /// How many attempts were made.
        attempts: u32,
        /// True when a create may have happened anyway (a 5xx on a POST).
        ambiguous: bool,
    },
    /// No answer: connection refused or dropped, timeout.
    #[error("provider {provider}: {method} {path}: {detail}{}", attempts_note(*attempts))]
    Transport {
        /// Provider name.
        provider: String,
        /// HTTP method.
        method: String,
        /// Path and query.
        path: String,
        /// What happened (timeout, connection reset, …).
        detail: String,
        /// How many attempts were made.
        attempts: u32,
        /// True when the request may have reached the Dashboard and a create may have happened.
        ambiguous: bool,
        /// True for a timeout.
        timeout: bool,
    },
    /// The Dashboard answered 2xx with a body that does not follow the contract.
    #[error(
        "provider {provider}: {method} {path}: status {status}: unexpected response: {detail}"
    )]
    Decode {
        /// Provider name.
        provider: String,
        /// HTTP method.
        method: String,
        /// Path and query.
        path: String,
        /// HTTP status.
        status: u16,
        /// The parse error.
        detail: String,
    },
    /// A listed policy cannot be read and may be portalctl's own (it carries a `portalctl:` tag or
    /// a `portalctl-` id): going on without it could create a duplicate of it or remove what
    /// refers to it.
    #[error("provider {provider}: policy {policy} cannot be read and may be portalctl's, so nothing is reconciled without it: {detail}; fix the policy on the Dashboard (or remove it)")]
    UnreadablePolicy {
        /// Provider name.
        provider: String,
        /// The policy, named with what could be read (`"Gold" (_id …, id …)`).
        policy: String,
        /// Why it cannot be read.
        detail: String,
    },
    /// A create kept failing ambiguously and the object was still not found after each failure.
    #[error("provider {provider}: creating {what} failed {attempts} times without a clear answer; last error: {last}")]
    CreateGaveUp {
        /// Provider name.
        provider: String,
        /// What was being created, e.g. `policy "gold"`.
        what: String,
        /// How many creates were sent.
        attempts: u32,
        /// The last error.
        last: Box<TykError>,
    },
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl TykError {
    /// True when a POST failed in a way that leaves unknown whether the object was created: the
    /// caller must look it up before creating again.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            TykError::Status { ambiguous, .. } | TykError::Transport { ambiguous, .. } => {
                *ambiguous
            }
            TykError::CreateGaveUp { .. } => true,
            _ => false,
        }
    }

    /// True for a 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True for a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, TykError::Transport { timeout: true, .. })
    }

    /// The HTTP status, when the Dashboard answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            TykError::Status { status, .. } | TykError::Decode { status, .. } => Some(*status),
            TykError::CreateGaveUp { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The Dashboard's `Message`, when it answered with an error status.
    pub fn dashboard_message(&self) -> Option<&str> {
        match self {
            TykError::Status { message, .. } => Some(message),
            _ => None,
        }
    }

    /// The provider this error is about.
    pub fn provider(&self) -> &str {
        match self {
            TykError::Secret { provider, .. }
            | TykError::Config { provider, .. }
            | TykError::Status { provider, .. }
            | TykError::Transport { provider, .. }
            | TykError::Decode { provider, .. }
            | TykError::UnreadablePolicy { provider, .. }
            | TykError::CreateGaveUp { provider, .. } => provider,
        }
    }
}

/// How long to wait before retrying, from `Retry-After` (seconds only; HTTP dates fall back to the
/// backoff), bounded so a confused server cannot park a reconcile for hours.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(300)))
}

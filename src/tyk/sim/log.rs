//! The simulator's request log: every Dashboard request with its method, path, query, status,
//! timing and (for writes) body, readable through `SimHandle::requests` and `/_sim/requests`.
//!
//! Tests use it to see exactly what a client sent (every policy body, checked against the
//! Dashboard's types) and when (two applies overlapping show as overlapping intervals).
//!
//! It must never hold a secret: no header is kept (so never `authorization`), a key in a key path
//! shows as `{key}` (a hash, with `hashed=1`, is kept), the secret fields of key bodies
//! (`basic_auth_data`, `jwt_data`, `hmac_string`, `oauth_keys`) are replaced by `[REDACTED]`, and
//! no response body is kept (a key's answer holds the key).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many records the log keeps by default; the ones answered longest ago are dropped first.
pub const DEFAULT_LOG_LIMIT: usize = 10_000;

/// One Dashboard request as the simulator saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Order of arrival, from 1.
    pub seq: u64,
    /// `GET`, `POST`, `PUT`, `DELETE`.
    pub method: String,
    /// The route as counted, e.g. `/api/portal/policies/{id}`.
    pub route: String,
    /// The path as requested, except that a key in `/api/keys/…` (not a hash) shows as `{key}`.
    pub path: String,
    /// The query string, when there was one (`p=-2`, `hashed=1`).
    pub query: Option<String>,
    /// The status the simulator answered; `None` when it never answered: the connection was
    /// dropped before the handler ran, or the client went away first.
    pub status: Option<u16>,
    /// The fault injected into this request: `error_500`, `error_429`, `drop_before` or
    /// `drop_after_write` (the handler ran and `status` is what the client never saw).
    pub fault: Option<String>,
    /// Wall-clock arrival, Unix milliseconds.
    pub unix_ms: u64,
    /// Microseconds since the simulator started, when the request arrived…
    pub start_us: u64,
    /// …and when its answer was ready (or it was abandoned). Two requests overlapped in time
    /// when each started before the other ended.
    pub end_us: u64,
    /// The body of a request that had one (writes), as text.
    pub body: Option<String>,
    /// Why the body was refused with `403 Request body malformed.` (field and types).
    pub error: Option<String>,
}

impl RequestRecord {
    /// The body parsed as JSON, when there is one and it is JSON.
    pub fn body_json(&self) -> Option<Value> {
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
    }

    /// `"METHOD /route"`, as in the request counts.
    pub fn route_key(&self) -> String {
        format!("{} {}", self.method, self.route)
    }
}

/// The log itself: a bounded queue of finished records and the sequence counter.
pub(crate) struct RequestLog {
    started: Instant,
    limit: usize,
    inner: Mutex<LogInner>,
}

struct LogInner {
    next_seq: u64,
    records: VecDeque<RequestRecord>,
}

impl RequestLog {
    pub(crate) fn new(limit: usize) -> Self {
        RequestLog {
            started: Instant::now(),
            limit,
            inner: Mutex::new(LogInner {
                next_seq: 1,
                records: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_us(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    /// Starts a record; it is written to the log when the returned entry is dropped, answered or
    /// not.
    pub(crate) fn begin(
        self: &Arc<Self>,
        method: &str,
        route: &str,
        path: &str,
        query: Option<&str>,
    ) -> LogEntry {
        let seq = {
            let mut inner = self.lock();
            let seq = inner.next_seq;
            inner.next_seq += 1;
            seq
        };
        let hashed = query.is_some_and(|q| {
            q.split('&')
                .any(|kv| matches!(kv, "hashed=1" | "hashed=true"))
        });
        let path = if route == "/api/keys/{key}" && !hashed {
            "/api/keys/{key}".to_owned()
        } else {
            path.to_owned()
        };
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        LogEntry {
            log: self.clone(),
            record: Some(RequestRecord {
                seq,
                method: method.to_owned(),
                route: route.to_owned(),
                path,
                query: query.map(str::to_owned),
                status: None,
                fault: None,
                unix_ms,
                start_us: self.now_us(),
                end_us: 0,
                body: None,
                error: None,
            }),
        }
    }

    fn finish(&self, mut r: RequestRecord) {
        r.end_us = self.now_us();
        let mut inner = self.lock();
        if self.limit == 0 {
            return;
        }
        while inner.records.len() >= self.limit {
            inner.records.pop_front();
        }
        inner.records.push_back(r);
    }

    /// The records kept, in order of arrival.
    pub(crate) fn records(&self, since: u64) -> Vec<RequestRecord> {
        let mut out: Vec<RequestRecord> = self
            .lock()
            .records
            .iter()
            .filter(|r| r.seq > since)
            .cloned()
            .collect();
        // Records are written when answered, so a slow request lands after a quick later one.
        out.sort_by_key(|r| r.seq);
        out
    }

    pub(crate) fn clear(&self) {
        self.lock().records.clear();
    }
}

/// A request being handled; its record is written when this is dropped.
pub(crate) struct LogEntry {
    log: Arc<RequestLog>,
    record: Option<RequestRecord>,
}

impl LogEntry {
    /// Keeps the request body (a key body with its secret fields redacted).
    pub(crate) fn body(&mut self, bytes: &[u8]) {
        let Some(r) = self.record.as_mut() else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        r.body = Some(if r.route.starts_with("/api/keys") {
            redact_key_body(bytes)
        } else {
            String::from_utf8_lossy(bytes).into_owned()
        });
    }

    pub(crate) fn fault(&mut self, name: &str) {
        if let Some(r) = self.record.as_mut() {
            r.fault = Some(name.to_owned());
        }
    }

    pub(crate) fn status(&mut self, status: u16, error: Option<String>) {
        if let Some(r) = self.record.as_mut() {
            r.status = Some(status);
            r.error = error;
        }
    }
}

impl Drop for LogEntry {
    fn drop(&mut self) {
        if let Some(r) = self.record.take() {
            self.log.finish(r);
        }
    }
}

/// A key session body with the fields that hold credentials replaced, at any depth of the top
/// level; a body that is not a JSON object is not kept at all.
fn redact_key_body(bytes: &[u8]) -> String {
    const SECRET_FIELDS: [&str; 4] = ["basic_auth_data", "jwt_data", "hmac_string", "oauth_keys"];
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(mut m)) => {
            for (k, v) in m.iter_mut() {
                if SECRET_FIELDS.iter().any(|s| s.eq_ignore_ascii_case(k)) {
                    *v = Value::String("[REDACTED]".into());
                }
            }
            Value::Object(m).to_string()
        }
        _ => format!("(not a JSON object, {} bytes, not kept)", bytes.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_paths_and_secret_fields_are_never_kept() {
        let log = Arc::new(RequestLog::new(10));
        {
            let mut e = log.begin("POST", "/api/keys/{key}", "/api/keys/my-secret-key", None);
            e.body(
                br#"{"alias":"a","jwt_data":{"secret":"jwt-secret"},"hmac_string":"hmac-secret"}"#,
            );
            e.status(200, None);
        }
        {
            let mut e = log.begin(
                "GET",
                "/api/keys/{key}",
                "/api/keys/abc123",
                Some("hashed=1"),
            );
            e.status(200, None);
        }
        let all = log.records(0);
        let text = serde_json::to_string(&all).unwrap();
        for secret in ["my-secret-key", "jwt-secret", "hmac-secret"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert_eq!(all[0].path, "/api/keys/{key}");
        assert_eq!(all[0].body_json().unwrap()["alias"], "a");
        assert_eq!(all[1].path, "/api/keys/abc123", "a hash is not a secret");
    }

    #[test]
    fn the_log_is_bounded_ordered_by_arrival_and_records_abandoned_requests() {
        let log = Arc::new(RequestLog::new(3));
        let slow = log.begin(
            "GET",
            "/api/portal/policies",
            "/api/portal/policies",
            Some("p=-2"),
        );
        for _ in 0..2 {
            let mut e = log.begin(
                "PUT",
                "/api/portal/policies/{id}",
                "/api/portal/policies/x",
                None,
            );
            e.status(200, None);
        }
        drop(slow);
        let all = log.records(0);
        assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(all[0].status, None, "never answered");
        assert!(all[0].end_us >= all[0].start_us);
        let mut e = log.begin(
            "DELETE",
            "/api/portal/policies/{id}",
            "/api/portal/policies/x",
            None,
        );
        e.status(200, None);
        drop(e);
        let all = log.records(0);
        assert_eq!(
            all.iter().map(|r| r.seq).collect::<Vec<_>>(),
            [1, 3, 4],
            "the record answered longest ago went first"
        );
        assert_eq!(log.records(3).len(), 1);
    }
}

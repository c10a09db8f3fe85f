//! The Tyk Dashboard client: one per provider, speaking `tyk-dashboard-contract.md`.
//!
//! It owns the HTTP side of talking to a Dashboard: the raw `authorization` header, timeouts, the
//! bound on requests in flight, retries with capped exponential backoff and jitter, and the rule
//! that a POST which may have reached the Dashboard is never blindly repeated (the object is looked
//! up first). It must not decide what a policy should contain (that is the reconciler's job) and it
//! must never let the secret reach a log line, an error or a `Debug` output.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::error::parse_retry_after;
pub use super::error::TykError;
use super::wire::{
    ApiList, ApiSummary, Envelope, IssuedKey, KeyInfo, KeyRequest, KeyResponse, Policy, PolicyList,
};
use crate::manifest::kinds::SecretRef;

/// Default per-request timeout (SPEC: provider `timeout`, default `60s`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default bound on concurrent requests per provider.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;

/// Everything needed to talk to one Dashboard. `Debug` shows the secret as `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Provider name, used in every log line and error.
    pub provider: String,
    /// Dashboard base URL (`http://` or `https://`, may carry a path prefix).
    pub url: String,
    /// The Dashboard user's API secret, sent raw in `authorization`.
    pub secret: SecretString,
    /// Dashboard org id, sent on creates when set.
    pub org_id: Option<String>,
    /// Per-request timeout, whole request including the body.
    pub timeout: Duration,
    /// At most this many requests at once.
    pub max_in_flight: usize,
    /// Skip TLS certificate verification (test setups only).
    pub insecure_skip_verify: bool,
    /// When and how often to retry.
    pub retry: RetryPolicy,
}

impl ClientConfig {
    /// A configuration with the defaults (60 s, 4 in flight, default retries).
    pub fn new(provider: impl Into<String>, url: impl Into<String>, secret: SecretString) -> Self {
        ClientConfig {
            provider: provider.into(),
            url: url.into(),
            secret,
            org_id: None,
            timeout: DEFAULT_TIMEOUT,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            insecure_skip_verify: false,
            retry: RetryPolicy::default(),
        }
    }

    /// Resolves `secret` ({fromEnv}/{fromFile}; fromFile paths are already absolute or relative to
    /// the working directory; trailing newline trimmed) and defaults (60 s, 4 in flight).
    pub fn from_provider(p: &crate::desired::Provider) -> Result<Self, TykError> {
        let provider = p.name.to_string();
        let secret = resolve_secret(&provider, p.secret())?;
        let mut cfg = ClientConfig::new(provider, p.spec.url.clone(), secret);
        cfg.org_id = p.spec.org_id.clone();
        if let Some(t) = &p.spec.timeout {
            cfg.timeout = t.as_std();
        }
        if let Some(n) = p.spec.max_in_flight {
            cfg.max_in_flight = n.max(1) as usize;
        }
        cfg.insecure_skip_verify = p.spec.insecure_skip_verify;
        Ok(cfg)
    }
}

/// Reads a secret from the environment or a file. Errors name the variable or file, never a value.
pub fn resolve_secret(provider: &str, r: &SecretRef) -> Result<SecretString, TykError> {
    let fail = |detail: String| TykError::Secret {
        provider: provider.to_owned(),
        detail,
    };
    let raw = match r {
        SecretRef::FromEnv(name) => match std::env::var(name) {
            Ok(v) => v,
            Err(std::env::VarError::NotPresent) => {
                return Err(fail(format!("environment variable {name} is not set")))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(fail(format!(
                    "environment variable {name} is not valid UTF-8"
                )))
            }
        },
        SecretRef::FromFile(path) => read_secret_file(path)
            .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?,
    };
    // Only the line ending is trimmed: a secret may legitimately contain other whitespace.
    let trimmed = raw.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(fail(match r {
            SecretRef::FromEnv(name) => format!("environment variable {name} is empty"),
            SecretRef::FromFile(path) => format!("{} is empty", path.display()),
        }));
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

fn read_secret_file(path: &Path) -> std::io::Result<String> {
    std::fs::read_to_string(path)
}

/// Retries of idempotent requests: `max_retries` after the first attempt, waiting
/// `min(cap, base * 2^n)` with jitter (between half and all of it) before retry `n + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff.
    pub base: Duration,
    /// Longest backoff (a `Retry-After` may ask for more, up to 5 minutes).
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(retry.min(20)))
            .min(self.cap);
        // Jitter keeps many clients (or many in-flight requests) from retrying in lockstep.
        let nanos = exp.as_nanos() as u64;
        if nanos < 2 {
            return exp;
        }
        Duration::from_nanos(rand::thread_rng().gen_range(nanos / 2..=nanos))
    }
}

/// How a request may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    /// GET, PUT: repeating is harmless.
    Idempotent,
    /// DELETE: repeating is harmless, and a 404 after an attempt that may have worked means done.
    Delete,
    /// POST: repeated only when the Dashboard surely did not act (connect error, 429).
    Create,
}

/// A 2xx answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// The Dashboard client of one provider. Cheap to clone: clones share the connection pool and the
/// in-flight bound.
#[derive(Clone)]
pub struct DashboardClient {
    inner: Arc<Inner>,
}

struct Inner {
    cfg: ClientConfig,
    base: Url,
    http: reqwest::Client,
    auth: HeaderValue,
    permits: Semaphore,
}

impl std::fmt::Debug for DashboardClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DashboardClient")
            .field("provider", &self.inner.cfg.provider)
            .field("url", &self.inner.cfg.url)
            .finish_non_exhaustive()
    }
}

impl DashboardClient {
    /// Builds the client; fails on a URL that is not http(s) or a secret that cannot be a header.
    pub fn new(cfg: ClientConfig) -> Result<Self, TykError> {
        let config_err = |detail: String| TykError::Config {
            provider: cfg.provider.clone(),
            detail,
        };
        let base = Url::parse(&cfg.url)
            .map_err(|e| config_err(format!("invalid Dashboard url {:?}: {e}", cfg.url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(config_err(format!(
                "invalid Dashboard url {:?}: only http and https are supported",
                cfg.url
            )));
        }
        let mut auth = HeaderValue::from_str(cfg.secret.expose_secret()).map_err(|_| {
            config_err("the Dashboard secret contains characters not allowed in a header".into())
        })?;
        // Marks the value so that hyper and reqwest never print it.
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout.min(Duration::from_secs(10)))
            .danger_accept_invalid_certs(cfg.insecure_skip_verify)
            .pool_max_idle_per_host(cfg.max_in_flight.max(1))
            .user_agent(concat!("portalctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config_err(format!("cannot build the HTTP client: {e}")))?;
        let permits = Semaphore::new(cfg.max_in_flight.max(1));
        Ok(DashboardClient {
            inner: Arc::new(Inner {
                cfg,
                base,
                http,
                auth,
                permits,
            }),
        })
    }

    /// The provider's name.
    pub fn provider(&self) -> &str {
        &self.inner.cfg.provider
    }

    /// Every policy, with `p=-2`. Tolerates `Data: null`, a missing `Pages` and unknown fields, and
    /// walks the pages when an old Dashboard answered with `Pages` > 1 anyway.
    pub async fn list_policies(&self) -> Result<Vec<Policy>, TykError> {
        let mut all = self
            .list_all::<PolicyList>(&["api", "portal", "policies"])
            .await?;
        compact(&mut all);
        Ok(all)
    }

    /// One policy by `_id` or `id`; `None` when the Dashboard answers 404.
    pub async fn get_policy(&self, id: &str) -> Result<Option<Policy>, TykError> {
        match self
            .get_json::<Policy>(&["api", "portal", "policies", id], &[])
            .await
        {
            Ok(p) => Ok(Some(p)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a policy and returns the new `_id` (read from `Message`). Never retried once the
    /// request may have reached the Dashboard: such a failure `is_ambiguous()`; see
    /// [`DashboardClient::create_policy_once`].
    pub async fn create_policy(&self, p: &Policy) -> Result<String, TykError> {
        let mut body = p.clone();
        body.mid.clear();
        if body.org_id.is_empty() {
            if let Some(org) = &self.inner.cfg.org_id {
                body.org_id = org.clone();
            }
        }
        let bytes = self.encode(&body)?;
        let path = ["api", "portal", "policies"];
        let ans = self
            .call(Method::POST, &path, &[], Some(bytes), Op::Create)
            .await?;
        let env: Envelope = self.decode(Method::POST, &path, &[], &ans)?;
        if env.message.is_empty() {
            return Err(self.decode_error(
                Method::POST,
                &path,
                &[],
                ans.status,
                "no new id in Message".into(),
            ));
        }
        Ok(env.message)
    }

    /// Replaces a policy (PUT, retried). Pass the object as read, with only owned fields changed:
    /// [`DashboardClient::modify_policy`] does that read-modify-write.
    pub async fn update_policy(&self, id: &str, p: &Policy) -> Result<(), TykError> {
        let bytes = self.encode(p)?;
        self.call(
            Method::PUT,
            &["api", "portal", "policies", id],
            &[],
            Some(bytes),
            Op::Idempotent,
        )
        .await
        .map(drop)
    }

    /// Read-modify-write: reads the policy, lets `change` edit the fields the caller owns, and
    /// writes it back only when something differs. Returns whether it wrote; 404 → `Err(NotFound)`.
    pub async fn modify_policy(
        &self,
        id: &str,
        change: impl FnOnce(&mut Policy),
    ) -> Result<bool, TykError> {
        let current: Policy = self
            .get_json(&["api", "portal", "policies", id], &[])
            .await?;
        let mut next = current.clone();
        change(&mut next);
        if next == current {
            return Ok(false);
        }
        self.update_policy(id, &next).await?;
        Ok(true)
    }

    /// Deletes a policy (retried). A 404 is `Err(NotFound)`, except after an attempt that may have
    /// deleted it already, which counts as done.
    pub async fn delete_policy(&self, id: &str) -> Result<(), TykError> {
        self.call(
            Method::DELETE,
            &["api", "portal", "policies", id],
            &[],
            None,
            Op::Delete,
        )
        .await
        .map(drop)
    }

    /// The lookup after an ambiguous create: GET by `id` (when not empty), else list and match
    /// `_id`/`id` against `id` or the name against `name`.
    pub async fn find_policy(&self, id: &str, name: &str) -> Result<Option<Policy>, TykError> {
        if !id.is_empty() {
            if let Some(p) = self.get_policy(id).await? {
                return Ok(Some(p));
            }
        }
        let all = self.list_policies().await?;
        Ok(all.into_iter().find(|p| {
            (!id.is_empty() && (p.id == id || p.mid == id)) || (!name.is_empty() && p.name == name)
        }))
    }

    /// Creates a policy without ever making a duplicate: after an ambiguous failure it looks the
    /// policy up (by `id`, or by name with all of `p.tags`) and creates again only when it is not
    /// there, at most `retry.max_retries + 1` times. Returns the `_id`.
    pub async fn create_policy_once(&self, p: &Policy) -> Result<String, TykError> {
        let limit = self.inner.cfg.retry.max_retries + 1;
        let mut sent = 0;
        loop {
            sent += 1;
            let err = match self.create_policy(p).await {
                Ok(id) => return Ok(id),
                Err(e) if e.is_ambiguous() => e,
                Err(e) => return Err(e),
            };
            warn!(
                provider = %self.provider(),
                policy = %p.name,
                error = %err,
                "a policy create failed ambiguously; looking it up before creating again"
            );
            if let Some(found) = self.find_policy(&p.id, &p.name).await? {
                let same = (!p.id.is_empty() && found.id == p.id)
                    || (found.name == p.name && p.tags.iter().all(|t| found.tags.contains(t)));
                if same {
                    return Ok(found.mid);
                }
            }
            if sent >= limit {
                return Err(TykError::CreateGaveUp {
                    provider: self.provider().to_owned(),
                    what: format!("policy {:?}", p.name),
                    attempts: sent,
                    last: Box::new(err),
                });
            }
            tokio::time::sleep(self.inner.cfg.retry.backoff(sent - 1)).await;
        }
    }

    /// Issues a key. Never repeated once the request may have reached the Dashboard (keys cannot be
    /// looked up by alias): an ambiguous failure is returned for the caller to record.
    pub async fn create_key(&self, k: &KeyRequest) -> Result<IssuedKey, TykError> {
        let mut body = k.clone();
        if body.org_id.is_none() {
            body.org_id = self.inner.cfg.org_id.clone();
        }
        let bytes = self.encode(&body)?;
        let path = ["api", "keys"];
        let ans = self
            .call(Method::POST, &path, &[], Some(bytes), Op::Create)
            .await?;
        let r: KeyResponse = self.decode(Method::POST, &path, &[], &ans)?;
        if r.key_id.is_empty() || r.key_hash.is_empty() {
            return Err(self.decode_error(
                Method::POST,
                &path,
                &[],
                ans.status,
                "no key_id or key_hash in the answer".into(),
            ));
        }
        Ok(IssuedKey {
            key_id: SecretString::from(r.key_id),
            key_hash: r.key_hash,
        })
    }

    /// Reads a key by its hash (`?hashed=1`); `None` on 404.
    pub async fn get_key(&self, key_hash: &str) -> Result<Option<KeyInfo>, TykError> {
        match self
            .get_json::<KeyResponse>(&["api", "keys", key_hash], &[("hashed", "1")])
            .await
        {
            Ok(r) => Ok(Some(KeyInfo {
                key_hash: if r.key_hash.is_empty() {
                    key_hash.to_owned()
                } else {
                    r.key_hash
                },
                alias: r.data.alias,
                apply_policies: r.data.apply_policies,
                meta_data: r.data.meta_data,
                tags: r.data.tags,
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Revokes a key by its hash (`?hashed=1`); a key already gone is fine.
    pub async fn delete_key(&self, key_hash: &str) -> Result<(), TykError> {
        match self
            .call(
                Method::DELETE,
                &["api", "keys", key_hash],
                &[("hashed", "1")],
                None,
                Op::Delete,
            )
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every API (lowercase `apis`/`pages`), with `p=-2`, walking pages if needed.
    pub async fn list_apis(&self) -> Result<Vec<ApiSummary>, TykError> {
        self.list_all::<ApiList>(&["api", "apis"]).await
    }

    /// Lists everything with `p=-2`; a Dashboard that pages anyway (`Pages` > 1) is walked page by
    /// page, skipping items seen already (an item created meanwhile shifts the pages).
    async fn list_all<L: Listing>(&self, path: &[&str]) -> Result<Vec<L::Item>, TykError> {
        let (mut all, pages) = self.get_json::<L>(path, &[("p", "-2")]).await?.split();
        let pages = pages.unwrap_or(1);
        if pages > 1 {
            warn!(
                provider = %self.provider(),
                pages,
                "the Dashboard paged a p=-2 listing; walking the pages"
            );
            let mut seen: HashSet<String> = all.iter().map(L::key).collect();
            for page in 2..=pages {
                let n = page.to_string();
                let (next, _) = self.get_json::<L>(path, &[("p", &n)]).await?.split();
                if next.is_empty() {
                    break;
                }
                all.extend(next.into_iter().filter(|item| seen.insert(L::key(item))));
            }
        }
        Ok(all)
    }

    // ---- plumbing -------------------------------------------------------------------------

    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &[&str],
        query: &[(&str, &str)],
    ) -> Result<T, TykError> {
        let ans = self
            .call(Method::GET, path, query, None, Op::Idempotent)
            .await?;
        self.decode(Method::GET, path, query, &ans)
    }

    fn encode<T: serde::Serialize>(&self, v: &T) -> Result<Vec<u8>, TykError> {
        serde_json::to_vec(v).map_err(|e| TykError::Config {
            provider: self.provider().to_owned(),
            detail: format!("cannot encode the request body: {e}"),
        })
    }

    fn decode<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        ans: &Answer,
    ) -> Result<T, TykError> {
        serde_json::from_slice(&ans.body)
            .map_err(|e| self.decode_error(method, path, query, ans.status, e.to_string()))
    }

    fn decode_error(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        status: u16,
        detail: String,
    ) -> TykError {
        TykError::Decode {
            provider: self.provider().to_owned(),
            method: method.to_string(),
            path: self.shown_path(path, query),
            status,
            detail,
        }
    }

    fn url(&self, path: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            // Segments are percent-encoded here, so an id holding `/` stays one segment.
            segments.pop_if_empty().extend(path);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// The path and query as shown in logs and errors.
    fn shown_path(&self, path: &[&str], query: &[(&str, &str)]) -> String {
        let url = self.url(path, query);
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Sends one logical request with the retry rules of `op`; returns the 2xx answer or the error.
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        op: Op,
    ) -> Result<Answer, TykError> {
        let inner = &self.inner;
        let url = self.url(path, query);
        let shown = self.shown_path(path, query);
        let body = body.map(bytes::Bytes::from);
        let policy = inner.cfg.retry;
        let mut attempt: u32 = 0;
        // Whether an earlier attempt may have acted on the Dashboard (for DELETE's 404 rule).
        let mut maybe_done = false;
        loop {
            attempt += 1;
            let outcome = {
                // The permit is held for the request and its body, not during the backoff.
                let _permit = inner
                    .permits
                    .acquire()
                    .await
                    .map_err(|_| TykError::Config {
                        provider: inner.cfg.provider.clone(),
                        detail: "the client was shut down".into(),
                    })?;
                let mut req = inner
                    .http
                    .request(method.clone(), url.clone())
                    .header(AUTHORIZATION, inner.auth.clone());
                if let Some(b) = &body {
                    req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
                }
                send_and_read(req).await
            };
            let retries_left = attempt <= policy.max_retries;
            let (retry_after, reason, err) = match outcome {
                Ok((status, retry_after, bytes)) => {
                    debug!(
                        provider = %inner.cfg.provider,
                        method = %method,
                        path = %shown,
                        status = status.as_u16(),
                        attempt,
                        "dashboard request"
                    );
                    if status.is_success() {
                        return Ok(Answer {
                            status: status.as_u16(),
                            body: bytes,
                        });
                    }
                    if status == StatusCode::NOT_FOUND && op == Op::Delete && maybe_done {
                        return Ok(Answer {
                            status: status.as_u16(),
                            body: Vec::new(),
                        });
                    }
                    let ambiguous = op == Op::Create && status.is_server_error();
                    let err = TykError::Status {
                        provider: inner.cfg.provider.clone(),
                        method: method.to_string(),
                        path: shown.clone(),
                        status: status.as_u16(),
                        message: dashboard_message(&bytes),
                        attempts: attempt,
                        ambiguous,
                    };
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || (status.is_server_error() && op != Op::Create);
                    if !retryable || !retries_left {
                        return Err(err);
                    }
                    if status.is_server_error() {
                        maybe_done = true;
                    }
                    let after = if status == StatusCode::TOO_MANY_REQUESTS {
                        retry_after
                    } else {
                        None
                    };
                    (after, format!("status {}", status.as_u16()), err)
                }
                Err(e) => {
                    let timeout = e.is_timeout();
                    // Only a failed connect proves the Dashboard never saw the request.
                    let reached = !e.is_connect();
                    let ambiguous = op == Op::Create && reached;
                    let detail = transport_detail(&e);
                    debug!(
                        provider = %inner.cfg.provider,
                        method = %method,
                        path = %shown,
                        attempt,
                        error = %detail,
                        "dashboard request failed"
                    );
                    let err = TykError::Transport {
                        provider: inner.cfg.provider.clone(),
                        method: method.to_string(),
                        path: shown.clone(),
                        detail: detail.clone(),
                        attempts: attempt,
                        ambiguous,
                        timeout,
                    };
                    if ambiguous || !retries_left {
                        return Err(err);
                    }
                    maybe_done |= reached;
                    (None, detail, err)
                }
            };
            drop(err);
            let backoff = policy.backoff(attempt - 1);
            let wait = retry_after.map_or(backoff, |ra| ra.max(backoff));
            warn!(
                provider = %inner.cfg.provider,
                method = %method,
                path = %shown,
                attempt,
                reason = %reason,
                wait_ms = wait.as_millis() as u64,
                "retrying dashboard request"
            );
            tokio::time::sleep(wait).await;
        }
    }
}

/// A listing envelope: its items and its page count.
trait Listing: serde::de::DeserializeOwned {
    type Item;
    fn split(self) -> (Vec<Self::Item>, Option<i64>);
    fn key(item: &Self::Item) -> String;
}

impl Listing for PolicyList {
    type Item = Policy;
    fn split(self) -> (Vec<Policy>, Option<i64>) {
        (self.data, self.pages)
    }
    fn key(p: &Policy) -> String {
        p.mid.clone()
    }
}

impl Listing for ApiList {
    type Item = ApiSummary;
    fn split(self) -> (Vec<ApiSummary>, Option<i64>) {
        (
            self.apis
                .into_iter()
                .map(|e| e.api_definition.into())
                .collect(),
            self.pages,
        )
    }
    fn key(a: &ApiSummary) -> String {
        a.api_id.clone()
    }
}

/// Gives back the slack that growing collections leave while parsing (the list's doubling, the
/// maps' spare slots): on a large Dashboard that is about a tenth of the listing's memory.
fn compact(all: &mut Vec<Policy>) {
    fn tight(m: &mut serde_json::Map<String, serde_json::Value>) {
        // Collecting sizes the map exactly; serde_json's Map has no shrink_to_fit.
        if !m.is_empty() {
            *m = std::mem::take(m).into_iter().collect();
        }
    }
    all.shrink_to_fit();
    for p in all.iter_mut() {
        tight(&mut p.extra);
        tight(&mut p.meta_data);
        for ad in p.access_rights.values_mut() {
            tight(&mut ad.extra);
        }
    }
}

/// Sends the request and reads the whole body into one buffer sized from `Content-Length`, so a
/// large listing is held once rather than as chunks plus a copy.
async fn send_and_read(
    req: reqwest::RequestBuilder,
) -> Result<(StatusCode, Option<Duration>, Vec<u8>), reqwest::Error> {
    let mut resp = req.send().await?;
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    // Capacity is bounded so a lying Content-Length cannot allocate gigabytes up front.
    let cap = resp.content_length().unwrap_or(0).min(256 << 20) as usize;
    let mut buf = Vec::with_capacity(cap);
    while let Some(chunk) = resp.chunk().await? {
        buf.extend_from_slice(&chunk);
    }
    Ok((status, retry_after, buf))
}

/// The Dashboard's `Message`, or the start of a non-JSON body.
fn dashboard_message(body: &[u8]) -> String {
    if let Ok(env) = serde_json::from_slice::<Envelope>(body) {
        if !env.message.is_empty() {
            return env.message;
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    let mut shown: String = text.chars().take(200).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// A transport error as text: the kind and the innermost causes (URL and reasons, never headers).
fn transport_detail(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "the connection failed while reading the answer"
    } else {
        "the request failed"
    };
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !causes.contains(&text) {
            causes.push(text);
        }
        source = s.source();
    }
    if causes.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {}", causes.join(": "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_within_half_to_full() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        for (retry, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (30, 1000),
        ] {
            let d = p.backoff(retry);
            let full = Duration::from_millis(full);
            assert!(d <= full && d >= full / 2, "retry {retry}: {d:?}");
        }
    }

    #[test]
    fn retry_after_is_seconds_and_bounded() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("99999"), Some(Duration::from_secs(300)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn non_json_error_bodies_are_shown_shortened() {
        assert_eq!(dashboard_message(b""), "(empty body)");
        assert_eq!(dashboard_message(b"{\"Message\":\"m\"}"), "m");
        let long = "x".repeat(500);
        assert_eq!(dashboard_message(long.as_bytes()).chars().count(), 201);
    }
}

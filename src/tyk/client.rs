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
    PolicyListing, UnreadablePolicy,
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

/// Where a request goes: path segments and query. `secret` is a segment that must never be
/// shown (a key in `/api/keys/{key}`): logs and errors show `{key}` in its place.
#[derive(Clone, Copy)]
struct Target<'a> {
    path: &'a [&'a str],
    query: &'a [(&'a str, &'a str)],
    secret: Option<&'a str>,
}

impl<'a> Target<'a> {
    fn new(path: &'a [&'a str], query: &'a [(&'a str, &'a str)]) -> Self {
        Target {
            path,
            query,
            secret: None,
        }
    }

    /// Text about this request with the secret segment replaced, in case a lower layer quoted
    /// the URL.
    fn hide(&self, text: String) -> String {
        match self.secret {
            Some(s) if !s.is_empty() && text.contains(s) => text.replace(s, "{key}"),
            _ => text,
        }
    }
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

    /// Every policy portalctl can use, with `p=-2`, for callers that have no place for warnings.
    ///
    /// Like [`DashboardClient::list_policies_detailed`], but a policy that cannot be read is
    /// handled here: one without a `portalctl:` tag (and without a `portalctl-` id) is skipped with
    /// a logged warning, since it cannot be ours; one that may be ours is an error naming it
    /// ([`TykError::UnreadablePolicy`]), because reconciling without it could create a duplicate
    /// or remove what refers to it.
    pub async fn list_policies(&self) -> Result<Vec<Policy>, TykError> {
        let listing = self.list_policies_detailed().await?;
        for u in &listing.unreadable {
            if u.may_be_portalctls() {
                return Err(TykError::UnreadablePolicy {
                    provider: self.provider().to_owned(),
                    policy: u.describe(),
                    detail: u.error.clone(),
                });
            }
            warn!(
                provider = %self.provider(),
                policy = %u.describe(),
                error = %u.error,
                "skipping a policy that cannot be read; it carries no portalctl tag"
            );
        }
        Ok(listing.policies)
    }

    /// Every policy, with `p=-2`, read one by one: the ones that decode, and the ones that do not
    /// (a string where the Dashboard's Go type has a number, a `meta_data` that is not an
    /// object…) with what could be read of them. One odd policy never fails the listing; only a
    /// listing that is not the documented envelope does.
    ///
    /// Tolerates `Data: null`, a missing `Pages` and unknown fields, reads an explicit `null` as
    /// Go's zero value, and walks the pages when an old Dashboard answered with `Pages` > 1
    /// anyway.
    pub async fn list_policies_detailed(&self) -> Result<PolicyListing, TykError> {
        let (mut policies, unreadable) = self
            .list_all::<Policies>(&["api", "portal", "policies"])
            .await?;
        compact(&mut policies);
        Ok(PolicyListing {
            policies,
            unreadable,
        })
    }

    /// One policy by `_id` or `id`; `None` when the Dashboard answers 404.
    pub async fn get_policy(&self, id: &str) -> Result<Option<Policy>, TykError> {
        match self
            .get_json::<Policy>(Target::new(&["api", "portal", "policies", id], &[]))
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
        let t = Target::new(&["api", "portal", "policies"], &[]);
        let ans = self.call(Method::POST, t, Some(bytes), Op::Create).await?;
        let env: Envelope = self.decode(Method::POST, t, &ans)?;
        if env.message.is_empty() {
            return Err(self.decode_error(
                Method::POST,
                t,
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
            Target::new(&["api", "portal", "policies", id], &[]),
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
            .get_json(Target::new(&["api", "portal", "policies", id], &[]))
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
            Target::new(&["api", "portal", "policies", id], &[]),
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

    /// Issues a key whose value the Dashboard chooses (`POST /api/keys`). Never repeated once the
    /// request may have reached the Dashboard (a key whose value we do not know cannot be looked
    /// up): an ambiguous failure is returned for the caller to record. Issuance that must never
    /// lose a key uses [`DashboardClient::create_key_with_id`] instead.
    pub async fn create_key(&self, k: &KeyRequest) -> Result<IssuedKey, TykError> {
        let bytes = self.encode(&self.key_body(k))?;
        let t = Target::new(&["api", "keys"], &[]);
        let ans = self.call(Method::POST, t, Some(bytes), Op::Create).await?;
        let r: KeyResponse = self.decode(Method::POST, t, &ans)?;
        if r.key_id.is_empty() || r.key_hash.is_empty() {
            return Err(self.decode_error(
                Method::POST,
                t,
                ans.status,
                "no key_id or key_hash in the answer".into(),
            ));
        }
        Ok(IssuedKey {
            key_id: SecretString::from(r.key_id),
            key_hash: r.key_hash,
        })
    }

    /// Issues a key with a value the caller chose (`POST /api/keys/{key}`), so that issuance can
    /// never leave a key nobody knows about: generate the key, record the intent (encrypted) in
    /// the database, call this, then record the returned hash. After a crash, call it again with
    /// the same key and request: it finds the key when it exists and creates it otherwise.
    ///
    /// The POST is never repeated blindly. When it fails in a way that leaves unknown whether the
    /// key was created (timeout, dropped connection, 5xx), the key is looked up with
    /// `GET /api/keys/{key}` and returned when it exists; only when it does not is the POST sent
    /// again, at most `retry.max_retries + 1` times in all (then [`TykError::CreateGaveUp`]). A
    /// POST refused (4xx) after an ambiguous attempt is looked up once more too: the first
    /// attempt may have landed meanwhile.
    ///
    /// Returns the key as chosen (`key_id`) and the Dashboard's `key_hash`, which is what to store
    /// and what [`DashboardClient::get_key`] and [`DashboardClient::delete_key`] take. A real
    /// Dashboard may answer with its own envelope of a custom key (the Gateway wraps it as base64
    /// of `{"org","id","h"}` when keys are hashed); the chosen key authenticates either way, so
    /// the one the caller holds is the one to give the developer.
    ///
    /// The key is a secret: it never appears in a log line or an error (paths show `{key}`).
    /// `org_id` is filled from the provider when the request has none.
    pub async fn create_key_with_id(
        &self,
        key: &SecretString,
        req: &KeyRequest,
    ) -> Result<IssuedKey, TykError> {
        let secret = key.expose_secret();
        if secret.is_empty() || secret.contains('/') {
            return Err(TykError::Config {
                provider: self.provider().to_owned(),
                detail: "a custom key must be non-empty and must not contain '/'".into(),
            });
        }
        let bytes = self.encode(&self.key_body(req))?;
        let path = ["api", "keys", secret];
        let t = Target {
            path: &path,
            query: &[],
            secret: Some(secret),
        };
        let limit = self.inner.cfg.retry.max_retries + 1;
        let mut sent = 0;
        let mut ambiguous_before = false;
        loop {
            sent += 1;
            let outcome = match self
                .call(Method::POST, t, Some(bytes.clone()), Op::Create)
                .await
            {
                Ok(ans) => self
                    .decode::<KeyResponse>(Method::POST, t, &ans)
                    .map(|r| (r, ans.status)),
                Err(e) => Err(e),
            };
            let err = match outcome {
                Ok((r, status)) => {
                    if r.key_hash.is_empty() {
                        return Err(self.decode_error(
                            Method::POST,
                            t,
                            status,
                            "no key_hash in the answer".into(),
                        ));
                    }
                    return Ok(IssuedKey {
                        key_id: key.clone(),
                        key_hash: r.key_hash,
                    });
                }
                Err(e) if e.is_ambiguous() => e,
                Err(e)
                    if ambiguous_before && e.status().is_some_and(|s| (400..500).contains(&s)) =>
                {
                    if let Some(found) = self.get_key_by_id(key).await? {
                        return Ok(IssuedKey {
                            key_id: key.clone(),
                            key_hash: found.key_hash,
                        });
                    }
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            ambiguous_before = true;
            warn!(
                provider = %self.provider(),
                alias = %req.alias,
                error = %err,
                "a key create failed ambiguously; looking the key up before creating it again"
            );
            if let Some(found) = self.get_key_by_id(key).await? {
                return Ok(IssuedKey {
                    key_id: key.clone(),
                    key_hash: found.key_hash,
                });
            }
            if sent >= limit {
                return Err(TykError::CreateGaveUp {
                    provider: self.provider().to_owned(),
                    what: format!("key {:?}", req.alias),
                    attempts: sent,
                    last: Box::new(err),
                });
            }
            tokio::time::sleep(self.inner.cfg.retry.backoff(sent - 1)).await;
        }
    }

    /// The body of a key create: the request with the provider's org filled in.
    fn key_body(&self, k: &KeyRequest) -> KeyRequest {
        let mut body = k.clone();
        if body.org_id.is_none() {
            body.org_id = self.inner.cfg.org_id.clone();
        }
        body
    }

    /// Reads a key by its hash (`GET /api/keys/{hash}?hashed=1`); `None` on 404.
    pub async fn get_key(&self, key_hash: &str) -> Result<Option<KeyInfo>, TykError> {
        let path = ["api", "keys", key_hash];
        self.read_key(Target::new(&path, &[("hashed", "1")]), key_hash)
            .await
    }

    /// Reads a key by the key itself (`GET /api/keys/{key}`); `None` on 404. The key never appears
    /// in a log line or an error. Use it to find out whether a create whose answer was lost
    /// happened ([`DashboardClient::create_key_with_id`] does).
    pub async fn get_key_by_id(&self, key: &SecretString) -> Result<Option<KeyInfo>, TykError> {
        let secret = key.expose_secret();
        let path = ["api", "keys", secret];
        let t = Target {
            path: &path,
            query: &[],
            secret: Some(secret),
        };
        self.read_key(t, "").await
    }

    async fn read_key(&self, t: Target<'_>, hash: &str) -> Result<Option<KeyInfo>, TykError> {
        match self.get_json::<KeyResponse>(t).await {
            Ok(r) => Ok(Some(KeyInfo {
                key_hash: if r.key_hash.is_empty() {
                    hash.to_owned()
                } else {
                    r.key_hash
                },
                alias: r.data.alias,
                apply_policies: r.data.apply_policies,
                meta_data: r.data.meta_data,
                tags: r.data.tags,
                expires: r.data.expires,
                is_inactive: r.data.is_inactive,
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Revokes a key by its hash (`DELETE /api/keys/{hash}?hashed=1`, retried); a key already gone
    /// is fine.
    pub async fn delete_key(&self, key_hash: &str) -> Result<(), TykError> {
        let path = ["api", "keys", key_hash];
        match self
            .call(
                Method::DELETE,
                Target::new(&path, &[("hashed", "1")]),
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
        Ok(self.list_all::<Apis>(&["api", "apis"]).await?.0)
    }

    /// Lists everything with `p=-2`; a Dashboard that pages anyway (`Pages` > 1) is walked page by
    /// page, skipping items seen already (an item created meanwhile shifts the pages). Returns the
    /// items that decode and the policies that do not.
    async fn list_all<L: Listing>(
        &self,
        path: &[&str],
    ) -> Result<(Vec<L::Item>, Vec<UnreadablePolicy>), TykError> {
        let first = self
            .get_listing::<L>(Target::new(path, &[("p", "-2")]))
            .await?;
        let (mut all, mut unreadable) = (first.items, first.unreadable);
        let pages = first.pages.unwrap_or(1);
        if pages > 1 {
            warn!(
                provider = %self.provider(),
                pages,
                "the Dashboard paged a p=-2 listing; walking the pages"
            );
            let mut seen: HashSet<String> = all.iter().map(L::key).collect();
            let mut seen_odd: HashSet<String> = unreadable.iter().map(odd_key).collect();
            for page in 2..=pages {
                let n = page.to_string();
                let next = self
                    .get_listing::<L>(Target::new(path, &[("p", &n)]))
                    .await?;
                if next.items.is_empty() && next.unreadable.is_empty() {
                    break;
                }
                all.extend(next.items.into_iter().filter(|i| seen.insert(L::key(i))));
                unreadable.extend(
                    next.unreadable
                        .into_iter()
                        .filter(|u| seen_odd.insert(odd_key(u))),
                );
            }
        }
        Ok((all, unreadable))
    }

    /// One page of a listing, parsed by the listing's own rules.
    async fn get_listing<L: Listing>(&self, t: Target<'_>) -> Result<Page<L::Item>, TykError> {
        let ans = self.call(Method::GET, t, None, Op::Idempotent).await?;
        L::parse(&ans.body)
            .map_err(|e| self.decode_error(Method::GET, t, ans.status, e.to_string()))
    }

    // ---- plumbing -------------------------------------------------------------------------

    async fn get_json<T: DeserializeOwned>(&self, t: Target<'_>) -> Result<T, TykError> {
        let ans = self.call(Method::GET, t, None, Op::Idempotent).await?;
        self.decode(Method::GET, t, &ans)
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
        t: Target<'_>,
        ans: &Answer,
    ) -> Result<T, TykError> {
        serde_json::from_slice(&ans.body)
            .map_err(|e| self.decode_error(method, t, ans.status, e.to_string()))
    }

    fn decode_error(&self, method: Method, t: Target<'_>, status: u16, detail: String) -> TykError {
        TykError::Decode {
            provider: self.provider().to_owned(),
            method: method.to_string(),
            path: self.shown_path(t),
            status,
            detail: t.hide(detail),
        }
    }

    fn url(&self, t: Target<'_>) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            // Segments are percent-encoded here, so an id holding `/` stays one segment.
            segments.pop_if_empty().extend(t.path);
        }
        if !t.query.is_empty() {
            url.query_pairs_mut().extend_pairs(t.query);
        }
        url
    }

    /// The path and query as shown in logs and errors; a secret segment shows as `{key}`.
    fn shown_path(&self, t: Target<'_>) -> String {
        // A placeholder the URL encoder leaves alone stands in for the secret, then becomes
        // `{key}` (which it would have percent-encoded).
        const PLACEHOLDER: &str = "PORTALCTL-HIDDEN-KEY";
        let shown: Vec<&str> = t
            .path
            .iter()
            .map(|seg| match t.secret {
                Some(secret) if *seg == secret => PLACEHOLDER,
                _ => seg,
            })
            .collect();
        let url = self.url(Target {
            path: &shown,
            query: t.query,
            secret: None,
        });
        let text = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        text.replace(PLACEHOLDER, "{key}")
    }

    /// Sends one logical request with the retry rules of `op`; returns the 2xx answer or the error.
    async fn call(
        &self,
        method: Method,
        t: Target<'_>,
        body: Option<Vec<u8>>,
        op: Op,
    ) -> Result<Answer, TykError> {
        let inner = &self.inner;
        let url = self.url(t);
        let shown = self.shown_path(t);
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
                        message: t.hide(dashboard_message(&bytes)),
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
                    let detail = t.hide(transport_detail(&e));
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

/// A listing envelope: how to read its items and its page count from a page's body.
trait Listing {
    type Item;
    fn parse(body: &[u8]) -> Result<Page<Self::Item>, serde_json::Error>;
    /// Identifies an item across pages.
    fn key(item: &Self::Item) -> String;
}

/// One page of a listing.
struct Page<I> {
    items: Vec<I>,
    /// Policies that do not decode (the API listing has none: it is read whole).
    unreadable: Vec<UnreadablePolicy>,
    pages: Option<i64>,
}

/// Identifies an unreadable policy across pages: its `_id`, or without one what could be read.
fn odd_key(u: &UnreadablePolicy) -> String {
    u.mid
        .clone()
        .unwrap_or_else(|| format!("{}\u{0}{}", u.describe(), u.error))
}

/// The policy listing (`Data`/`Pages`).
struct Policies;

/// The API listing (`apis`/`pages`).
struct Apis;

impl Listing for Policies {
    type Item = Policy;
    fn parse(body: &[u8]) -> Result<Page<Policy>, serde_json::Error> {
        // Each element stays raw text (borrowed from the body) until it is decoded on its own,
        // so one policy that does not decode cannot fail the others.
        let list: PolicyList<'_> = serde_json::from_slice(body)?;
        let raw = list.data.unwrap_or_default();
        let mut items = Vec::with_capacity(raw.len());
        let mut unreadable = Vec::new();
        for r in raw {
            match serde_json::from_str::<Policy>(r.get()) {
                Ok(p) => items.push(p),
                Err(e) => unreadable.push(UnreadablePolicy::from_raw(r.get(), &e)),
            }
        }
        Ok(Page {
            items,
            unreadable,
            pages: list.pages,
        })
    }
    fn key(p: &Policy) -> String {
        p.mid.clone()
    }
}

impl Listing for Apis {
    type Item = ApiSummary;
    fn parse(body: &[u8]) -> Result<Page<ApiSummary>, serde_json::Error> {
        let list: ApiList = serde_json::from_slice(body)?;
        Ok(Page {
            items: list
                .apis
                .into_iter()
                .map(|e| e.api_definition.into())
                .collect(),
            unreadable: Vec::new(),
            pages: list.pages,
        })
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
    fn a_listing_element_that_is_not_a_policy_object_is_unreadable_not_fatal() {
        let page = Policies::parse(
            br#"{"Data":[null,5,"x",{"name":"ok","rate":-1},{"name":"bad","tags":["portalctl:a"],"per":"1"}],"Pages":1}"#,
        )
        .unwrap();
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].name, "ok");
        assert_eq!(page.unreadable.len(), 4);
        assert!(page.unreadable[..3]
            .iter()
            .all(|u| !u.may_be_portalctls() && u.name.is_none()));
        assert!(page.unreadable[3].may_be_portalctls());
        assert!(Policies::parse(br#"{"Data":{"a":1}}"#).is_err());
        assert!(Policies::parse(br#"{"Data":null}"#)
            .unwrap()
            .items
            .is_empty());
    }

    #[test]
    fn a_secret_path_segment_is_shown_as_key() {
        let c = DashboardClient::new(ClientConfig::new(
            "p",
            "http://127.0.0.1:1/prefix/",
            SecretString::from("s"),
        ))
        .unwrap();
        let t = Target {
            path: &["api", "keys", "my key/1"],
            query: &[],
            secret: Some("my key/1"),
        };
        assert_eq!(c.shown_path(t), "/prefix/api/keys/{key}");
        assert_eq!(
            c.url(t).as_str(),
            "http://127.0.0.1:1/prefix/api/keys/my%20key%2F1"
        );
        assert_eq!(
            t.hide("for url /api/keys/my key/1".into()),
            "for url /api/keys/{key}"
        );
    }

    #[test]
    fn non_json_error_bodies_are_shown_shortened() {
        assert_eq!(dashboard_message(b""), "(empty body)");
        assert_eq!(dashboard_message(b"{\"Message\":\"m\"}"), "m");
        let long = "x".repeat(500);
        assert_eq!(dashboard_message(long.as_bytes()).chars().count(), 201);
    }
}

//! The simulator's HTTP surface: the Dashboard routes of the contract, the middleware that counts
//! requests, injects faults and checks the secret, and the `/_sim/*` control endpoints.
//!
//! Control endpoints need no secret, are never under `/api/`, and are neither counted nor faulted.
//! Nothing here may log a request's `authorization` header.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use tracing::debug;

use super::store::{Doc, Refusal, StoredKey};
use super::{Fault, Faults, Quirks, Shared};
use crate::tyk::gojson::{self, DecodeError};
use crate::tyk::wire::Envelope;

/// Marks a response that must not be sent: the accept loop closes the connection instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropConnection;

fn reply(status: u16, env: Envelope) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(env)).into_response()
}

fn refused(r: Refusal) -> Response {
    reply(r.status, Envelope::error(r.message))
}

/// Why a body was refused as malformed: the decoder's message (field and types, never a value),
/// attached to the response so the request log can show it. The Dashboard's answer itself says
/// only "Request body malformed.".
#[derive(Debug, Clone)]
pub(crate) struct Malformed(pub String);

fn malformed(e: DecodeError) -> Response {
    debug!(error = %e, "simulator refused a malformed body");
    let mut resp = reply(403, Envelope::error("Request body malformed."));
    resp.extensions_mut().insert(Malformed(e.to_string()));
    resp
}

fn json_bytes(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Builds the whole router over the shared state.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let api = Router::new()
        .route(
            "/api/portal/policies",
            get(list_policies).post(create_policy),
        )
        .route(
            "/api/portal/policies/",
            get(list_policies).post(create_policy),
        )
        .route(
            "/api/portal/policies/{id}",
            get(get_policy).put(update_policy).delete(delete_policy),
        )
        .route("/api/keys", axum::routing::post(create_key))
        .route(
            "/api/keys/{key}",
            get(get_key)
                .post(create_custom_key)
                .put(update_key)
                .delete(delete_key),
        )
        .route("/api/apis", get(list_apis))
        .route("/api/apis/", get(list_apis))
        // route_layer: only matched Dashboard routes are counted and faulted.
        .route_layer(middleware::from_fn_with_state(
            shared.clone(),
            dashboard_gate,
        ));
    let control = Router::new()
        .route("/_sim/requests", get(get_requests).delete(delete_requests))
        .route("/_sim/faults", get(get_faults).put(put_faults))
        .route("/_sim/counts", get(get_counts).delete(delete_counts))
        .route(
            "/_sim/policies",
            get(control_policies).post(insert_raw_policy),
        )
        .route("/_sim/latency", put(put_latency))
        .route("/_sim/quirks", get(get_quirks).put(put_quirks));
    api.merge(control)
        .fallback(|| async { reply(404, Envelope::error("Not found")) })
        .with_state(shared)
}

/// The largest request body the simulator reads (the Dashboard's own limit is not documented).
const MAX_BODY: usize = 64 << 20;

/// Counting, logging, latency, faults and the secret check, in that order, around every
/// Dashboard route.
async fn dashboard_gate(State(sim): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    sim.count(&format!("{method} {route}"));
    // Written to the log when dropped, so a request the client abandons is recorded too.
    let mut entry = sim
        .log()
        .begin(method.as_str(), &route, req.uri().path(), req.uri().query());
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            entry.status(413, None);
            return reply(413, Envelope::error("Request body too large."));
        }
    };
    entry.body(&body);
    let req = Request::from_parts(parts, axum::body::Body::from(body));
    let resp = gate(&sim, &method, req, next, &mut entry).await;
    if resp.extensions().get::<DropConnection>().is_none()
        || resp.extensions().get::<Fault>() == Some(&Fault::DropAfterWrite)
    {
        let error = resp.extensions().get::<Malformed>().map(|m| m.0.clone());
        entry.status(resp.status().as_u16(), error);
    }
    resp
}

async fn gate(
    sim: &Shared,
    method: &Method,
    req: Request,
    next: Next,
    entry: &mut super::log::LogEntry,
) -> Response {
    let _in_flight = sim.enter();
    let is_write = method != Method::GET && method != Method::HEAD;
    let latency = sim.latency();
    let (fault, delay) = sim.decide_fault(is_write);
    let wait = latency + delay;
    if !wait.is_zero() {
        precise_sleep(wait).await;
    }
    match fault {
        Fault::None => {}
        Fault::DropAfterWrite => entry.fault("drop_after_write"),
        Fault::Error500 => {
            entry.fault("error_500");
            return reply(
                500,
                Envelope::error("Failure processing data, please contact your administrator."),
            );
        }
        Fault::Error429(after) => {
            entry.fault("error_429");
            let mut resp = reply(429, Envelope::error("Too many requests"));
            if let Some(s) = after {
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(s));
            }
            return resp;
        }
        Fault::DropBefore => {
            entry.fault("drop_before");
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(DropConnection);
            return resp;
        }
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if given != Some(sim.secret.as_bytes()) {
        if let (Some(g), Some(denied)) = (given, sim.denied_secret.as_deref()) {
            if g == denied.as_bytes() {
                let path = req.uri().path().trim_end_matches('/').to_owned();
                return reply(
                    403,
                    Envelope::error(format!(
                        "access denied: You do not have permission to access  {path}"
                    )),
                );
            }
        }
        return reply(401, Envelope::error("Not authorised"));
    }
    let mut resp = next.run(req).await;
    // Only a request that acted is cut off: a refusal (404, 400) has no write to lose.
    if fault == Fault::DropAfterWrite && resp.status().is_success() {
        resp.extensions_mut().insert(DropConnection);
        resp.extensions_mut().insert(Fault::DropAfterWrite);
    }
    resp
}

#[derive(Deserialize)]
struct PageQuery {
    p: Option<String>,
}

/// Which slice of `n` items a `p` asks for: `p < 0` all; missing, 0 or 1 the first page.
fn page_bounds(p: Option<&str>, n: usize, size: usize, quirks: &Quirks) -> (usize, usize, usize) {
    let size = size.max(1);
    let pages = n.div_ceil(size);
    let p: i64 = p.and_then(|s| s.trim().parse().ok()).unwrap_or(1);
    if p < 0 && !quirks.page_even_when_p_negative {
        return (0, n, usize::from(n > 0));
    }
    let page = p.max(1) as usize;
    let start = ((page - 1).saturating_mul(size)).min(n);
    let end = (start + size).min(n);
    (start, end, pages)
}

async fn list_policies(State(sim): State<Arc<Shared>>, Query(q): Query<PageQuery>) -> Response {
    let quirks = sim.quirks();
    let store = sim.lock_store();
    let n = store.policy_count();
    let (start, end, pages) = page_bounds(q.p.as_deref(), n, sim.page_size, &quirks);
    // Written by hand into one buffer: the reconciler benchmark lists 25,000 policies this way.
    let mut out = Vec::with_capacity(64 + (end - start) * 900);
    out.extend_from_slice(b"{\"Data\":");
    if end == start {
        out.extend_from_slice(b"null");
    } else {
        out.push(b'[');
        for (i, p) in store.policies().skip(start).take(end - start).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if quirks.extra_fields {
                let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
                if let Value::Object(m) = &mut v {
                    m.insert("x_future_field".into(), json!({"nested": [1, 2]}));
                }
                let _ = serde_json::to_writer(&mut out, &v);
            } else {
                let _ = serde_json::to_writer(&mut out, p);
            }
        }
        out.push(b']');
    }
    drop(store);
    if !quirks.omit_pages {
        out.extend_from_slice(format!(",\"Pages\":{pages}").as_bytes());
    }
    if quirks.extra_fields {
        out.extend_from_slice(b",\"Meta\":{\"x\":1},\"x_total\":0");
    }
    out.push(b'}');
    json_bytes(out)
}

async fn create_policy(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    let p = match gojson::decode_policy(&body) {
        Ok(p) => p,
        Err(e) => return malformed(e),
    };
    match sim.lock_store().create_policy(p) {
        Ok(mid) => reply(200, Envelope::ok(mid)),
        Err(r) => refused(r),
    }
}

async fn get_policy(State(sim): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let store = sim.lock_store();
    match store.get_policy(&id) {
        Some(p) => Json(p).into_response(),
        None => refused(super::store::NOT_FOUND),
    }
}

async fn update_policy(
    State(sim): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let p = match gojson::decode_policy(&body) {
        Ok(p) => p,
        Err(e) => return malformed(e),
    };
    match sim.lock_store().update_policy(&id, p) {
        Ok(()) => reply(200, Envelope::ok("Data updated")),
        Err(r) => refused(r),
    }
}

async fn delete_policy(State(sim): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    match sim.lock_store().delete_policy(&id) {
        Ok(()) => reply(200, Envelope::ok("Data deleted")),
        Err(r) => refused(r),
    }
}

#[derive(Deserialize)]
struct KeyQuery {
    hashed: Option<String>,
}

impl KeyQuery {
    fn hashed(&self) -> bool {
        matches!(self.hashed.as_deref(), Some("1" | "true"))
    }
}

fn key_reply(k: &StoredKey, show_key: bool) -> Response {
    Json(json!({
        "api_model": {},
        "key_id": if show_key { k.key_id.as_str() } else { "" },
        "data": k.session,
        "key_hash": k.key_hash,
    }))
    .into_response()
}

async fn create_key(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    let session = match gojson::decode_session(&body) {
        Ok(s) => s,
        Err(e) => return malformed(e),
    };
    match sim.lock_store().create_key(None, session) {
        Ok(k) => key_reply(&k, true),
        Err(r) => refused(r),
    }
}

async fn create_custom_key(
    State(sim): State<Arc<Shared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    let session = match gojson::decode_session(&body) {
        Ok(s) => s,
        Err(e) => return malformed(e),
    };
    match sim.lock_store().create_key(Some(&key), session) {
        Ok(k) => key_reply(&k, true),
        Err(r) => refused(r),
    }
}

async fn get_key(
    State(sim): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let store = sim.lock_store();
    match store.get_key(&key, q.hashed()) {
        Ok(k) => key_reply(k, !q.hashed()),
        Err(r) => refused(r),
    }
}

async fn update_key(
    State(sim): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(q): Query<KeyQuery>,
    body: Bytes,
) -> Response {
    let session = match gojson::decode_session(&body) {
        Ok(s) => s,
        Err(e) => return malformed(e),
    };
    match sim.lock_store().update_key(&key, q.hashed(), session) {
        Ok(k) => key_reply(&k, !q.hashed()),
        Err(r) => refused(r),
    }
}

async fn delete_key(
    State(sim): State<Arc<Shared>>,
    Path(key): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    match sim.lock_store().delete_key(&key, q.hashed()) {
        Ok(()) => reply(200, Envelope::ok("Key deleted successfully.")),
        Err(r) => refused(r),
    }
}

async fn list_apis(State(sim): State<Arc<Shared>>, Query(q): Query<PageQuery>) -> Response {
    let quirks = sim.quirks();
    let store = sim.lock_store();
    let apis = store.apis();
    let (start, end, pages) = page_bounds(q.p.as_deref(), apis.len(), sim.page_size, &quirks);
    let entries: Vec<Value> = apis[start..end]
        .iter()
        .map(|d| json!({ "api_definition": d }))
        .collect();
    Json(json!({ "apis": entries, "pages": pages })).into_response()
}

// ---- control endpoints ------------------------------------------------------------------

async fn get_faults(State(sim): State<Arc<Shared>>) -> Json<Faults> {
    Json(sim.faults())
}

async fn put_faults(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Faults>(&body) {
        Ok(f) => {
            sim.set_faults(f);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("invalid faults: {e}")).into_response(),
    }
}

async fn get_counts(State(sim): State<Arc<Shared>>) -> Response {
    Json(sim.counts()).into_response()
}

#[derive(Deserialize)]
struct SinceQuery {
    since: Option<u64>,
}

/// `GET /_sim/requests[?since=SEQ]`: the request log (see `SimHandle::requests`).
async fn get_requests(State(sim): State<Arc<Shared>>, Query(q): Query<SinceQuery>) -> Response {
    Json(sim.log().records(q.since.unwrap_or(0))).into_response()
}

async fn delete_requests(State(sim): State<Arc<Shared>>) -> StatusCode {
    sim.log().clear();
    StatusCode::NO_CONTENT
}

async fn delete_counts(State(sim): State<Arc<Shared>>) -> StatusCode {
    sim.reset_counts();
    StatusCode::NO_CONTENT
}

async fn control_policies(State(sim): State<Arc<Shared>>) -> Response {
    let store = sim.lock_store();
    let all: Vec<&Doc> = store.policies().collect();
    Json(all).into_response()
}

/// `POST /_sim/policies`: stores a policy object exactly as given, bypassing the Dashboard's
/// checks, so tests can seed what no client could write (`"rate": "fast"`, a `null` limit).
async fn insert_raw_policy(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Doc>(&body) {
        Ok(doc) => {
            let mid = sim.lock_store().insert_raw(doc);
            Json(json!({ "_id": mid })).into_response()
        }
        Err(e) => (
            StatusCode::BAD_REQUEST,
            format!("a raw policy must be a JSON object: {e}"),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct LatencyBody {
    ms: u64,
}

async fn put_latency(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<LatencyBody>(&body) {
        Ok(l) => {
            sim.set_latency(Duration::from_millis(l.ms));
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("invalid latency: {e}")).into_response(),
    }
}

async fn get_quirks(State(sim): State<Arc<Shared>>) -> Json<Quirks> {
    Json(sim.quirks())
}

async fn put_quirks(State(sim): State<Arc<Shared>>, body: Bytes) -> Response {
    match serde_json::from_slice::<Quirks>(&body) {
        Ok(q) => {
            sim.set_quirks(q);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, format!("invalid quirks: {e}")).into_response(),
    }
}

/// Sleeps for `d` with sub-millisecond accuracy. Tokio's timer rounds up to whole milliseconds
/// and wakes late (a 5 ms sleep takes about 6.2 ms), which would make the simulator's latency 25%
/// more than configured; the last stretch is slept on a blocking thread, which is accurate to
/// tens of microseconds.
async fn precise_sleep(d: Duration) {
    let deadline = std::time::Instant::now() + d;
    if d > Duration::from_millis(10) {
        tokio::time::sleep(d - Duration::from_millis(10)).await;
    }
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    if !left.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
    }
}

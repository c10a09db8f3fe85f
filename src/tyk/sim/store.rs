//! The simulator's in-memory Dashboard state: policies, keys and APIs, and its JSON file form.
//!
//! Policies are kept as the JSON documents the Dashboard would return (checked and canonicalised
//! by [`crate::tyk::gojson`] when they arrive over HTTP; inserted as given when seeded, so tests can
//! hold policies no client could write). They stay in insertion order (a `BTreeMap` keyed by a
//! sequence number) with indexes by `_id`, `id` and org+name, so that 25,000 policies list, look
//! up and delete quickly. This module knows the Dashboard's rules (unique names, generated ids,
//! error messages) but nothing of HTTP.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::tyk::gojson;

/// A policy as stored: the JSON object the Dashboard answers with.
pub(crate) type Doc = Map<String, Value>;

/// A string field of a document, or `""` when it is missing or not a string.
pub(crate) fn text<'a>(d: &'a Doc, key: &str) -> &'a str {
    d.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The org id the simulator stamps on what it creates, unless configured otherwise.
pub const DEFAULT_ORG_ID: &str = "5fd08e0f69710900018bc195";

/// A Dashboard rule broken by a request: the status and the Dashboard's `Message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub status: u16,
    pub message: &'static str,
}

pub(crate) const NAME_TAKEN: Refusal = Refusal {
    status: 400,
    message: "This policy name has already been used. Enter a unique policy name.",
};
pub(crate) const ID_TAKEN: Refusal = Refusal {
    status: 400,
    message: "This policy ID has already been used. Enter a unique policy ID.",
};
pub(crate) const NOT_FOUND: Refusal = Refusal {
    status: 404,
    message: "Could not retrieve portal object.",
};
pub(crate) const NOT_FOUND_DELETE: Refusal = Refusal {
    status: 404,
    message: "Could not retrieve object for deletion",
};
pub(crate) const KEY_NOT_FOUND: Refusal = Refusal {
    status: 404,
    message: "Could not retrieve key detail.",
};

/// A key as the simulator keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoredKey {
    pub key_id: String,
    pub key_hash: String,
    pub session: Map<String, Value>,
}

/// The state file: everything, in order.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct StateFile {
    #[serde(default)]
    pub org_id: String,
    #[serde(default)]
    pub apis: Vec<Value>,
    #[serde(default)]
    pub policies: Vec<Doc>,
    #[serde(default)]
    pub keys: Vec<StoredKey>,
}

type Index = HashMap<String, Vec<u64>>;

fn index_add(index: &mut Index, key: &str, seq: u64) {
    if !key.is_empty() {
        index.entry(key.to_owned()).or_default().push(seq);
    }
}

fn index_remove(index: &mut Index, key: &str, seq: u64) {
    if let Some(v) = index.get_mut(key) {
        v.retain(|s| *s != seq);
        if v.is_empty() {
            index.remove(key);
        }
    }
}

fn name_key(org: &str, name: &str) -> String {
    format!("{org}\u{0}{name}")
}

/// The whole simulated Dashboard.
#[derive(Debug)]
pub(crate) struct Store {
    pub org_id: String,
    next_seq: u64,
    policies: BTreeMap<u64, Doc>,
    by_mid: Index,
    by_id: Index,
    by_name: Index,
    keys: BTreeMap<String, StoredKey>,
    key_by_id: HashMap<String, String>,
    /// Bare API definitions.
    apis: Vec<Value>,
    oid_counter: u32,
    oid_random: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    pub fn new(org_id: String) -> Self {
        Store {
            org_id,
            next_seq: 0,
            policies: BTreeMap::new(),
            by_mid: HashMap::new(),
            by_id: HashMap::new(),
            by_name: HashMap::new(),
            keys: BTreeMap::new(),
            key_by_id: HashMap::new(),
            apis: Vec::new(),
            oid_counter: rand::thread_rng().gen(),
            oid_random: rand::thread_rng().gen::<u64>() & 0xff_ffff_ffff,
        }
    }

    /// A fresh 24-hex database id, shaped like a MongoDB ObjectId (time, random, counter).
    fn new_mid(&mut self) -> String {
        loop {
            self.oid_counter = self.oid_counter.wrapping_add(1);
            let mid = format!(
                "{:08x}{:010x}{:06x}",
                now_secs() as u32,
                self.oid_random,
                self.oid_counter & 0xff_ffff
            );
            if !self.by_mid.contains_key(&mid) {
                return mid;
            }
        }
    }

    fn seq_of(&self, id: &str) -> Option<u64> {
        self.by_mid
            .get(id)
            .or_else(|| self.by_id.get(id))
            .and_then(|v| v.first().copied())
    }

    fn index(&mut self, seq: u64, p: &Doc) {
        index_add(&mut self.by_mid, text(p, "_id"), seq);
        index_add(&mut self.by_id, text(p, "id"), seq);
        index_add(
            &mut self.by_name,
            &name_key(text(p, "org_id"), text(p, "name")),
            seq,
        );
    }

    fn unindex(&mut self, seq: u64, p: &Doc) {
        index_remove(&mut self.by_mid, text(p, "_id"), seq);
        index_remove(&mut self.by_id, text(p, "id"), seq);
        index_remove(
            &mut self.by_name,
            &name_key(text(p, "org_id"), text(p, "name")),
            seq,
        );
    }

    fn push(&mut self, p: Doc) -> String {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.index(seq, &p);
        let mid = text(&p, "_id").to_owned();
        self.policies.insert(seq, p);
        mid
    }

    /// `POST /api/portal/policies` with a body [`gojson::decode_policy`] accepted: the
    /// Dashboard's create rules. Fields the body left out are stored as Go's zero values, except
    /// `state`, which a new policy has as `"active"` (what the Dashboard shows for a policy
    /// created without it; uncertain for every version).
    pub fn create_policy(&mut self, mut p: Doc) -> Result<String, Refusal> {
        p.insert("org_id".into(), Value::String(self.org_id.clone()));
        if self
            .by_name
            .contains_key(&name_key(&self.org_id, text(&p, "name")))
        {
            return Err(NAME_TAKEN);
        }
        let id = text(&p, "id").to_owned();
        if !id.is_empty() && (self.by_id.contains_key(&id) || self.by_mid.contains_key(&id)) {
            return Err(ID_TAKEN);
        }
        let mid = self.new_mid();
        p.insert("_id".into(), Value::String(mid.clone()));
        if id.is_empty() {
            p.insert("id".into(), Value::String(mid));
        }
        let now = now_secs();
        p.insert("last_updated".into(), Value::String(now.to_string()));
        if text(&p, "date_created").is_empty() {
            p.insert("date_created".into(), Value::String(rfc3339(now)));
        }
        p.entry("state")
            .or_insert_with(|| Value::String("active".into()));
        gojson::fill_missing(&mut p, &gojson::POLICY);
        Ok(self.push(p))
    }

    /// Inserts without the Dashboard's checks (seeding, tests): keeps a given `_id`, `id` and
    /// `org_id`, fills the missing ones, and replaces a policy with the same `_id`. Any other
    /// field is kept as given, even one no Dashboard would accept.
    pub fn insert_raw(&mut self, mut p: Doc) -> String {
        let mut mid = text(&p, "_id").to_owned();
        if mid.is_empty() {
            mid = self.new_mid();
            p.insert("_id".into(), Value::String(mid.clone()));
        } else if let Some(seq) = self.by_mid.get(&mid).and_then(|v| v.first().copied()) {
            if let Some(old) = self.policies.remove(&seq) {
                self.unindex(seq, &old);
            }
        }
        // Only a missing, null or empty value is filled: a raw policy may hold a wrong type on
        // purpose (an `id` that is a number), and that must reach the client as it is.
        let blank = |v: Option<&Value>| match v {
            None | Some(Value::Null) => true,
            Some(Value::String(s)) => s.is_empty(),
            Some(_) => false,
        };
        if blank(p.get("id")) {
            p.insert("id".into(), Value::String(mid));
        }
        if blank(p.get("org_id")) {
            p.insert("org_id".into(), Value::String(self.org_id.clone()));
        }
        self.push(p)
    }

    pub fn get_policy(&self, id: &str) -> Option<&Doc> {
        self.seq_of(id).and_then(|s| self.policies.get(&s))
    }

    /// `PUT /api/portal/policies/{id}` with a body [`gojson::decode_policy`] accepted: full
    /// replace; `_id` and org stay, an empty `id` keeps the old one, a new name must be free.
    pub fn update_policy(&mut self, id: &str, mut p: Doc) -> Result<(), Refusal> {
        let seq = self.seq_of(id).ok_or(NOT_FOUND)?;
        let old = self.policies.get(&seq).ok_or(NOT_FOUND)?;
        p.insert("_id".into(), Value::String(text(old, "_id").to_owned()));
        p.insert(
            "org_id".into(),
            Value::String(text(old, "org_id").to_owned()),
        );
        if text(&p, "id").is_empty() {
            p.insert("id".into(), Value::String(text(old, "id").to_owned()));
        }
        if text(&p, "name") != text(old, "name") {
            if let Some(v) = self
                .by_name
                .get(&name_key(text(&p, "org_id"), text(&p, "name")))
            {
                if v.iter().any(|s| *s != seq) {
                    return Err(NAME_TAKEN);
                }
            }
        }
        if text(&p, "id") != text(old, "id")
            && self.seq_of(text(&p, "id")).is_some_and(|s| s != seq)
        {
            return Err(ID_TAKEN);
        }
        if text(&p, "date_created").is_empty() {
            if let Some(d) = old.get("date_created") {
                p.insert("date_created".into(), d.clone());
            }
        }
        p.entry("state")
            .or_insert_with(|| Value::String("active".into()));
        p.insert("last_updated".into(), Value::String(now_secs().to_string()));
        gojson::fill_missing(&mut p, &gojson::POLICY);
        let old = self.policies.remove(&seq).ok_or(NOT_FOUND)?;
        self.unindex(seq, &old);
        self.index(seq, &p);
        self.policies.insert(seq, p);
        Ok(())
    }

    pub fn delete_policy(&mut self, id: &str) -> Result<(), Refusal> {
        let seq = self.seq_of(id).ok_or(NOT_FOUND_DELETE)?;
        let old = self.policies.remove(&seq).ok_or(NOT_FOUND_DELETE)?;
        self.unindex(seq, &old);
        Ok(())
    }

    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    pub fn policies(&self) -> impl Iterator<Item = &Doc> {
        self.policies.values()
    }

    // ---- keys ---------------------------------------------------------------------------

    /// Issues a key from a session body, merging in what the applied policies give (tags,
    /// meta data, expiry), as the Gateway does. A custom key that exists already gets the new
    /// session, as the Gateway's create handler does (it never checks for an existing key, and
    /// the Dashboard documents no conflict answer).
    pub fn create_key(
        &mut self,
        custom: Option<&str>,
        mut session: Map<String, Value>,
    ) -> Result<StoredKey, Refusal> {
        let key_id = match custom {
            Some(k) => k.to_owned(),
            None => {
                let r: u128 = rand::thread_rng().gen();
                format!("{}{:032x}", self.org_id, r)
            }
        };
        let key_hash = key_hash(&key_id);
        session
            .entry("org_id")
            .or_insert_with(|| Value::String(self.org_id.clone()));
        self.apply_policies(&mut session);
        let k = StoredKey {
            key_id: key_id.clone(),
            key_hash: key_hash.clone(),
            session,
        };
        if let Some(old) = self.key_by_id.insert(key_id, key_hash.clone()) {
            self.keys.remove(&old);
        }
        self.keys.insert(key_hash, k.clone());
        Ok(k)
    }

    fn apply_policies(&self, session: &mut Map<String, Value>) {
        let ids: Vec<String> = session
            .get("apply_policies")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut tags: Vec<Value> = session
            .get("tags")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut meta = session
            .get("meta_data")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut expires_in = 0;
        for id in &ids {
            if let Some(p) = self.get_policy(id) {
                for t in p
                    .get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if t.is_string() && !tags.contains(t) {
                        tags.push(t.clone());
                    }
                }
                for (k, v) in p
                    .get("meta_data")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    meta.entry(k.clone()).or_insert_with(|| v.clone());
                }
                let policy_expiry = p.get("key_expires_in").and_then(Value::as_i64);
                expires_in = expires_in.max(policy_expiry.unwrap_or(0));
            }
        }
        session.insert("tags".into(), Value::Array(tags));
        session.insert("meta_data".into(), Value::Object(meta));
        let expires = session.get("expires").and_then(Value::as_i64).unwrap_or(0);
        if expires == 0 && expires_in > 0 {
            session.insert("expires".into(), (now_secs() as i64 + expires_in).into());
        }
    }

    fn key_hash_of(&self, key: &str, hashed: bool) -> Option<String> {
        if hashed {
            self.keys.contains_key(key).then(|| key.to_owned())
        } else {
            self.key_by_id.get(key).cloned()
        }
    }

    pub fn get_key(&self, key: &str, hashed: bool) -> Result<&StoredKey, Refusal> {
        let h = self.key_hash_of(key, hashed).ok_or(KEY_NOT_FOUND)?;
        self.keys.get(&h).ok_or(KEY_NOT_FOUND)
    }

    pub fn update_key(
        &mut self,
        key: &str,
        hashed: bool,
        session: Map<String, Value>,
    ) -> Result<StoredKey, Refusal> {
        let h = self.key_hash_of(key, hashed).ok_or(KEY_NOT_FOUND)?;
        let k = self.keys.get_mut(&h).ok_or(KEY_NOT_FOUND)?;
        k.session = session;
        Ok(k.clone())
    }

    pub fn delete_key(&mut self, key: &str, hashed: bool) -> Result<(), Refusal> {
        let h = self.key_hash_of(key, hashed).ok_or(KEY_NOT_FOUND)?;
        let k = self.keys.remove(&h).ok_or(KEY_NOT_FOUND)?;
        self.key_by_id.remove(&k.key_id);
        Ok(())
    }

    pub fn key_hashes(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    // ---- APIs ---------------------------------------------------------------------------

    /// Adds an API; accepts a bare definition or a `{"api_definition": …}` entry.
    pub fn add_api(&mut self, v: Value) {
        let def = match v {
            Value::Object(mut m) if m.contains_key("api_definition") => {
                m.remove("api_definition").unwrap_or(Value::Null)
            }
            other => other,
        };
        self.apis.push(def);
    }

    pub fn apis(&self) -> &[Value] {
        &self.apis
    }

    // ---- persistence --------------------------------------------------------------------

    pub fn to_state(&self) -> StateFile {
        StateFile {
            org_id: self.org_id.clone(),
            apis: self.apis.clone(),
            policies: self.policies.values().cloned().collect(),
            keys: self.keys.values().cloned().collect(),
        }
    }

    pub fn load_state(&mut self, s: StateFile) {
        if !s.org_id.is_empty() {
            self.org_id = s.org_id;
        }
        for a in s.apis {
            self.add_api(a);
        }
        for p in s.policies {
            self.insert_raw(p);
        }
        for k in s.keys {
            self.key_by_id.insert(k.key_id.clone(), k.key_hash.clone());
            self.keys.insert(k.key_hash.clone(), k);
        }
    }
}

/// The hash the simulator shows for a key (64 bits of SHA-256, hex), standing in for Tyk's murmur.
pub(crate) fn key_hash(key: &str) -> String {
    let d = Sha256::digest(key.as_bytes());
    hex::encode(&d[..8])
}

/// Unix seconds as an RFC 3339 UTC timestamp, without pulling in a date crate.
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_a_known_date() {
        assert_eq!(rfc3339(1_607_598_779), "2020-12-10T11:12:59Z");
    }

    #[test]
    fn names_are_unique_and_ids_default_to_mid() {
        let mut s = Store::new(DEFAULT_ORG_ID.into());
        let p: Doc = serde_json::from_str(r#"{"name": "a"}"#).unwrap();
        let mid = s.create_policy(p.clone()).unwrap();
        assert_eq!(mid.len(), 24);
        let got = s.get_policy(&mid).unwrap();
        assert_eq!(text(got, "id"), mid);
        assert_eq!(got["rate"], 0, "a field left out is Go's zero value");
        assert_eq!(got["state"], "active");
        assert_eq!(s.create_policy(p), Err(NAME_TAKEN));
        s.delete_policy(&mid).unwrap();
        assert_eq!(s.delete_policy(&mid), Err(NOT_FOUND_DELETE));
        assert_eq!(s.policy_count(), 0);
    }
}

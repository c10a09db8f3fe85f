//! Unit tests of the diff on plain values: a desired state built in memory, an actual state
//! written out as values, and `applied` standing in for a Dashboard and a database. No
//! simulator, no database, no files.

use serde_json::json;

use super::*;
use crate::desired::{Plan as PlanObject, Product, Provider, Source};
use crate::manifest::kinds::Name;
use crate::reconcile::plan::Widens;
use crate::store::{ActiveCredential, DbObject};

fn name(s: &str) -> Name {
    Name::parse(s).expect("valid name")
}

fn source() -> Source {
    Source {
        file: "test.yaml".into(),
        line: 1,
    }
}

const FREE: &str =
    "provider: tyk\ndisplayName: Free\nrateLimit: {requests: 10, per: 1s}\nquota: unlimited\n";
const GOLD: &str = "provider: tyk\ndisplayName: Gold\nrateLimit: {requests: 100, per: 1s}\nquota: unlimited\npolicy: {id: legacy-gold}\n";

/// A spec from its YAML, read as the JSON model it stands for.
fn spec<T: serde::de::DeserializeOwned>(yaml: &str) -> T {
    let value: Value = serde_yaml::from_str(yaml).expect("YAML");
    serde_json::from_value(value).expect("spec")
}

/// A provider `tyk` plus the given plans and products, each `(name, spec as YAML)`.
fn desired(plans: &[(&str, &str)], products: &[(&str, &str)]) -> Desired {
    let mut d = Desired::default();
    d.providers.insert(
        name("tyk"),
        Provider {
            name: name("tyk"),
            spec: spec(
                "type: tyk-pro\nurl: http://dashboard.test\nsecret: {fromEnv: DASHBOARD_SECRET}\npolicyTags: [team]\n",
            ),
            source: source(),
        },
    );
    for (n, yaml) in plans {
        d.plans.insert(
            name(n),
            PlanObject {
                name: name(n),
                spec: spec(yaml),
                source: source(),
            },
        );
    }
    for (n, yaml) in products {
        d.products.insert(
            name(n),
            Product {
                name: name(n),
                spec: spec(yaml),
                source: source(),
                content: None,
                guides: Vec::new(),
                openapi: BTreeMap::new(),
                logo: None,
            },
        );
    }
    d
}

/// An empty database and a Dashboard `tyk` holding the given policies.
fn actual(policies: Vec<Policy>) -> Actual {
    Actual {
        db: Snapshot::default(),
        dashboards: BTreeMap::from([("tyk".to_owned(), policies)]),
    }
}

fn opts(revoke_retired: bool) -> DiffOptions {
    DiffOptions {
        instance: "default".into(),
        revoke_retired,
    }
}

fn run(d: &Desired, a: &Actual) -> ChangeSet {
    diff(d, a, &opts(false))
}

/// The state apply would leave behind, computed in memory.
fn applied(before: &Actual, plan: &ChangeSet) -> Actual {
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let mut a = before.clone();
    for c in &plan.changes {
        for op in &c.ops {
            match op {
                Op::CreatePolicy { provider, policy } => {
                    let mut p: Policy = serde_json::from_value(policy.clone()).unwrap();
                    p.mid = format!("mid-{}", p.id);
                    let written: Map<String, Value> = p
                        .meta_data
                        .iter()
                        .map(|(k, v)| (format!("meta_data.{k}"), v.clone()))
                        .collect();
                    a.db.policy_refs.insert(
                        (c.kind, c.name.clone()),
                        PolicyRefRow {
                            provider: provider.clone(),
                            policy_id: p.id.clone(),
                            policy_mid: p.mid.clone(),
                            origin: Origin::Created,
                            last_seen: Value::Object(written),
                        },
                    );
                    a.dashboards.entry(provider.clone()).or_default().push(p);
                }
                Op::PatchPolicy {
                    provider,
                    mid,
                    patch,
                    ..
                } => {
                    let list = a.dashboards.get_mut(provider).unwrap();
                    let p = list.iter_mut().find(|p| p.mid == *mid).unwrap();
                    let mut v = serde_json::to_value(&*p).unwrap();
                    patch.apply_to(&mut v);
                    *p = serde_json::from_value(v).unwrap();
                }
                Op::DeletePolicy { provider, mid } => {
                    a.dashboards
                        .get_mut(provider)
                        .unwrap()
                        .retain(|p| p.mid != *mid);
                }
                Op::RevokeKey { credential, .. } => {
                    a.db.credentials.retain(|c| c.id != *credential);
                }
                Op::Db(w) => match w {
                    DbWrite::Upsert {
                        kind, name, doc, ..
                    } => {
                        a.db.objects.insert(
                            (*kind, name.clone()),
                            DbObject {
                                doc: doc.to_string(),
                                status: Status::Active,
                            },
                        );
                    }
                    DbWrite::SetStatus { kind, name, status } => {
                        a.db.objects.get_mut(&(*kind, name.clone())).unwrap().status = *status;
                    }
                    DbWrite::Delete { kind, name } => {
                        a.db.objects.remove(&(*kind, name.clone()));
                    }
                    DbWrite::PutPolicyRef { kind, name, policy } => {
                        a.db.policy_refs
                            .insert((*kind, name.clone()), policy.clone());
                    }
                    DbWrite::DeletePolicyRef { kind, name } => {
                        a.db.policy_refs.remove(&(*kind, name.clone()));
                    }
                    DbWrite::RevokeCredential { id } => {
                        a.db.credentials.retain(|c| c.id != *id);
                    }
                },
            }
        }
    }
    a
}

/// `(action, kind, name, target)` of every change, in execution order.
fn lines(plan: &ChangeSet) -> Vec<(Action, Kind, &str, Target)> {
    plan.changes
        .iter()
        .map(|c| (c.action, c.kind, c.name.as_str(), c.target))
        .collect()
}

fn objects(plan: &ChangeSet) -> Vec<(Action, Kind, &str)> {
    plan.objects()
        .iter()
        .map(|o| (o.action, o.kind, o.name))
        .collect()
}

fn change<'a>(plan: &'a ChangeSet, name: &str, target: Target) -> &'a Change {
    plan.changes
        .iter()
        .find(|c| c.name == name && c.target == target)
        .unwrap_or_else(|| panic!("no {target:?} change of {name} in {:#?}", lines(plan)))
}

fn credential(plan: &str, products: &[&str]) -> ActiveCredential {
    ActiveCredential {
        id: "cred-1".into(),
        provider: "tyk".into(),
        plan: plan.into(),
        products: products.iter().map(|p| (*p).to_owned()).collect(),
        key_hash: "hash-1".into(),
    }
}

#[test]
fn a_new_plan_is_one_create_with_a_policy_and_a_row() {
    let d = desired(&[("free", FREE)], &[]);
    let before = actual(vec![]);
    let plan = run(&d, &before);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    assert_eq!(
        lines(&plan),
        vec![
            (Action::Create, Kind::Plan, "free", Target::Dashboard),
            (Action::Create, Kind::Provider, "tyk", Target::Database),
            (Action::Create, Kind::Plan, "free", Target::Database),
        ]
    );
    let Op::CreatePolicy { provider, policy } = &plan.changes[0].ops[0] else {
        panic!("{:?}", plan.changes[0].ops);
    };
    assert_eq!(provider, "tyk");
    assert_eq!(policy["id"], json!("portalctl-default-plan-free"));
    assert_eq!(policy["name"], json!("Free"));
    assert_eq!((&policy["rate"], &policy["per"]), (&json!(10), &json!(1)));
    assert_eq!(policy["tags"], json!(["team", "portalctl:default"]));
    // Counted by object: the plan's policy and row are one creation.
    assert_eq!(
        objects(&plan),
        vec![
            (Action::Create, Kind::Provider, "tyk"),
            (Action::Create, Kind::Plan, "free")
        ]
    );
    assert_eq!((plan.summary.create, plan.summary.total()), (2, 2));

    let after = applied(&before, &plan);
    assert!(run(&d, &after).is_empty(), "applying it converges");
}

#[test]
fn one_field_edit_is_one_update_of_one_object() {
    let before = applied(
        &actual(vec![]),
        &run(&desired(&[("free", FREE)], &[]), &actual(vec![])),
    );
    let d = desired(
        &[("free", &FREE.replace("requests: 10", "requests: 20"))],
        &[],
    );
    let plan = run(&d, &before);
    assert_eq!(
        lines(&plan),
        vec![
            (Action::Update, Kind::Plan, "free", Target::Dashboard),
            (Action::Update, Kind::Plan, "free", Target::Database),
        ]
    );
    let dash = change(&plan, "free", Target::Dashboard);
    assert_eq!(
        dash.fields,
        vec![FieldChange {
            path: "rate".into(),
            before: Some(json!(10)),
            after: Some(json!(20)),
        }]
    );
    let Op::PatchPolicy { patch, .. } = &dash.ops[0] else {
        panic!("{:?}", dash.ops);
    };
    assert_eq!(patch.set, Map::from_iter([("rate".to_owned(), json!(20))]));
    assert!(patch.remove.is_empty() && patch.add_tags.is_empty());
    let db = change(&plan, "free", Target::Database);
    assert_eq!(db.fields.len(), 1);
    assert_eq!(db.fields[0].path, "rateLimit");
    assert_eq!(objects(&plan), vec![(Action::Update, Kind::Plan, "free")]);
    assert_eq!((plan.summary.update, plan.summary.total()), (1, 1));
    // A raised rate limit widens access.
    assert_eq!(dash.widens.len(), 1);
    assert!(matches!(
        dash.widens[0].what,
        Widens::RateLimitRaised { .. }
    ));
    // Lowering it does not.
    let lower = desired(
        &[("free", &FREE.replace("requests: 10", "requests: 5"))],
        &[],
    );
    assert!(run(&lower, &before)
        .changes
        .iter()
        .all(|c| c.widens.is_empty()));
}

#[test]
fn an_api_added_to_a_product_widens_access_for_its_credentials() {
    let payments = "provider: tyk\ndisplayName: Payments\napis: [{apiId: a}]\n";
    let d = desired(&[], &[("payments", payments)]);
    let mut before = applied(&actual(vec![]), &run(&d, &actual(vec![])));
    before
        .db
        .credentials
        .push(credential("free", &["payments"]));
    let wider = desired(
        &[],
        &[(
            "payments",
            &payments.replace("[{apiId: a}]", "[{apiId: a}, {apiId: b}]"),
        )],
    );
    let plan = run(&wider, &before);
    let dash = change(&plan, "payments", Target::Dashboard);
    assert_eq!(dash.action, Action::Update);
    assert_eq!(dash.widens.len(), 1, "{:?}", dash.widens);
    assert_eq!(dash.widens[0].what, Widens::ApiAdded { api_id: "b".into() });
    assert_eq!(dash.widens[0].active_credentials, 1);
}

#[test]
fn adopting_a_foreign_policy_tags_it_and_owns_its_limits() {
    let foreign = Policy {
        mid: "5f0000000000000000000001".into(),
        id: "legacy-gold".into(),
        name: "Legacy Gold".into(),
        rate: 1.0,
        per: 1.0,
        tags: vec!["legacy".into()],
        ..Policy::default()
    };
    let d = desired(&[("gold", GOLD)], &[]);
    let before = actual(vec![foreign]);
    let plan = run(&d, &before);
    assert!(plan.errors.is_empty(), "{:?}", plan.errors);
    let dash = change(&plan, "gold", Target::Dashboard);
    assert_eq!(dash.action, Action::Tag);
    let Op::PatchPolicy { mid, id, patch, .. } = &dash.ops[0] else {
        panic!("{:?}", dash.ops);
    };
    assert_eq!(
        (mid.as_str(), id.as_str()),
        ("5f0000000000000000000001", "legacy-gold")
    );
    assert_eq!(patch.add_tags, vec!["team", "portalctl:default"]);
    assert_eq!(patch.set.get("rate"), Some(&json!(100)));
    assert!(
        !patch.set.contains_key("name"),
        "an adopted policy keeps its name"
    );
    let db = change(&plan, "gold", Target::Database);
    assert_eq!(db.action, Action::Create);
    assert!(db.ops.iter().any(|op| matches!(
        op,
        Op::Db(DbWrite::PutPolicyRef { policy, .. }) if policy.origin == Origin::Adopted
    )));
    // One object: adopting is what the reviewer sees, and that it raises the limit.
    assert_eq!(objects(&plan)[1], (Action::Tag, Kind::Plan, "gold"));
    assert_eq!(plan.summary.tag, 1);
    assert!(matches!(
        dash.widens[0].what,
        Widens::RateLimitRaised { .. }
    ));

    let after = applied(&before, &plan);
    assert!(run(&d, &after).is_empty(), "{:#?}", lines(&run(&d, &after)));
}

#[test]
fn a_foreign_policy_in_the_way_is_a_plan_error_not_a_change() {
    let same_name = Policy {
        mid: "5f0000000000000000000002".into(),
        id: "hand-made".into(),
        name: "Free".into(),
        ..Policy::default()
    };
    let plan = run(&desired(&[("free", FREE)], &[]), &actual(vec![same_name]));
    assert_eq!(plan.errors.len(), 1, "{:?}", plan.errors);
    let msg = &plan.errors[0].message;
    assert!(
        msg.contains("hand-made") && msg.contains("policy.name"),
        "{msg}"
    );
    assert!(plan.changes.iter().all(|c| c.target == Target::Database));

    // Our deterministic id on a policy without our tag: not ours, so not changed either.
    let same_id = Policy {
        mid: "5f0000000000000000000003".into(),
        id: "portalctl-default-plan-free".into(),
        name: "Free".into(),
        ..Policy::default()
    };
    let plan = run(&desired(&[("free", FREE)], &[]), &actual(vec![same_id]));
    assert_eq!(plan.errors.len(), 1, "{:?}", plan.errors);
    assert!(
        plan.errors[0].message.contains("does not carry the tag"),
        "{:?}",
        plan.errors
    );
    assert!(plan.changes.iter().all(|c| c.target == Target::Database));
}

#[test]
fn a_removed_plan_with_credentials_is_retired_and_revoke_retired_deletes_it() {
    let first = run(&desired(&[("free", FREE)], &[]), &actual(vec![]));
    let mut before = applied(&actual(vec![]), &first);
    before.db.credentials.push(credential("free", &[]));
    let d = desired(&[], &[]);
    let plan = run(&d, &before);
    assert_eq!(
        lines(&plan),
        vec![
            (Action::Retire, Kind::Plan, "free", Target::Database),
            (Action::Retire, Kind::Plan, "free", Target::Dashboard),
        ]
    );
    let dash = change(&plan, "free", Target::Dashboard);
    assert_eq!(dash.fields[0].after, Some(json!("draft")));
    assert_eq!(dash.impact.map(|i| i.active_credentials), Some(1));
    assert_eq!(objects(&plan), vec![(Action::Retire, Kind::Plan, "free")]);
    assert_eq!((plan.summary.retire, plan.summary.total()), (1, 1));
    assert!(plan.is_destructive());
    let retired = applied(&before, &plan);
    assert!(
        run(&d, &retired).is_empty(),
        "retired objects stay retired quietly"
    );

    // --revoke-retired: revoke the key, then delete policy and row.
    let plan = diff(&d, &retired, &opts(true));
    assert_eq!(
        lines(&plan),
        vec![
            (Action::Delete, Kind::Plan, "free", Target::Database),
            (Action::Delete, Kind::Plan, "free", Target::Dashboard),
        ]
    );
    let dash = change(&plan, "free", Target::Dashboard);
    assert!(matches!(&dash.ops[0], Op::RevokeKey { credential, .. } if credential == "cred-1"));
    assert!(
        matches!(&dash.ops[1], Op::DeletePolicy { mid, .. } if mid == "mid-portalctl-default-plan-free")
    );
    assert_eq!(dash.impact.map(|i| i.revoked_credentials), Some(1));
    assert_eq!(objects(&plan), vec![(Action::Delete, Kind::Plan, "free")]);
    let gone = applied(&retired, &plan);
    assert!(gone.dashboards["tyk"].is_empty() && gone.db.credentials.is_empty());
    assert!(diff(&d, &gone, &opts(true)).is_empty());
}

#[test]
fn a_removed_adopted_plan_releases_its_policy() {
    let foreign = Policy {
        mid: "5f0000000000000000000001".into(),
        id: "legacy-gold".into(),
        name: "Legacy Gold".into(),
        tags: vec!["legacy".into()],
        ..Policy::default()
    };
    let d = desired(&[("gold", GOLD)], &[]);
    let before = actual(vec![foreign]);
    let adopted = applied(&before, &run(&d, &before));
    let plan = run(&desired(&[], &[]), &adopted);
    assert_eq!(
        lines(&plan),
        vec![
            (Action::Delete, Kind::Plan, "gold", Target::Database),
            (Action::Release, Kind::Plan, "gold", Target::Dashboard),
        ]
    );
    let dash = change(&plan, "gold", Target::Dashboard);
    // The release shows the ownership tag going, not the policy.
    assert_eq!(
        dash.fields,
        vec![FieldChange {
            path: "tags".into(),
            before: Some(json!(["legacy", "team", "portalctl:default"])),
            after: Some(json!(["legacy", "team"])),
        }]
    );
    let Op::PatchPolicy { patch, .. } = &dash.ops[0] else {
        panic!("{:?}", dash.ops);
    };
    assert_eq!(patch.remove_tags, vec!["portalctl:default"]);
    assert!(dash
        .ops
        .iter()
        .all(|op| !matches!(op, Op::DeletePolicy { .. })));
    assert_eq!(objects(&plan), vec![(Action::Release, Kind::Plan, "gold")]);
    assert_eq!((plan.summary.release, plan.summary.total()), (1, 1));
    let released = applied(&adopted, &plan);
    let policy = &released.dashboards["tyk"][0];
    assert_eq!(policy.id, "legacy-gold", "the policy is kept");
    assert!(!policy.tags.contains(&"portalctl:default".to_owned()));
    assert!(run(&desired(&[], &[]), &released).is_empty());
}

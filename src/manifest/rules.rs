//! Rules across documents (SPEC §1.2, §1.3, §2) and the files manifests name, then the
//! construction of [`Desired`] from documents that passed them.
//!
//! Every finding is placed on the offending value. This module reads the markdown, OpenAPI and
//! image files manifests name (once each), and never reads a secret: `secret.fromFile` is only
//! resolved and checked for existence.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use super::check::{did_you_mean, Body, Declared, Doc};
use super::diagnostic::Diagnostic;
use super::kinds::{Name, SecretRef, TeamRef, Visibility, ALL_USERS, DEFAULT_ORG};
use crate::desired::{
    Catalog, Desired, LoadedGuide, Logo, Organisation, Plan, Product, Provider, Source, Team,
};

/// What a referenced file turned out to be, cached by resolved path.
#[derive(Clone)]
enum FileContent {
    Text(String),
    Image(Logo),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FileKind {
    Markdown,
    OpenApi,
    Image,
}

/// Resolves a path written in a manifest against the manifest's folder.
fn resolve(dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// Reads and checks one referenced file; the error is a message for the manifest's value.
fn read_checked(path: &Path, written: &Path, kind: FileKind) -> Result<FileContent, String> {
    let shown = written.display();
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!(
                "file `{shown}` does not exist (looked for {})",
                path.display()
            )
        }
        std::io::ErrorKind::IsADirectory => format!("`{shown}` is a directory, not a file"),
        _ => format!("cannot read `{shown}`: {e}"),
    })?;
    if kind == FileKind::Image {
        let mime = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "image/jpeg"
        } else {
            return Err(format!("`{shown}` is not a PNG or JPEG image"));
        };
        return Ok(FileContent::Image(Logo { mime, bytes }));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("`{shown}` is not UTF-8 text"))?;
    if kind == FileKind::OpenApi {
        let value: serde_yaml::Value = serde_yaml::from_str(&text)
            .map_err(|e| format!("`{shown}` is not valid YAML or JSON: {e}"))?;
        let is_openapi = value
            .as_mapping()
            .is_some_and(|m| m.contains_key("openapi") || m.contains_key("swagger"));
        if !is_openapi {
            return Err(format!(
                "`{shown}` is not an OpenAPI document: it has no `openapi` or `swagger` field"
            ));
        }
    }
    Ok(FileContent::Text(text))
}

/// Reads referenced files once each, however many manifests name them.
#[derive(Default)]
struct Files {
    cache: HashMap<(PathBuf, u8), Result<FileContent, String>>,
}

impl Files {
    fn get(&mut self, dir: &Path, written: &Path, kind: FileKind) -> Result<FileContent, String> {
        let path = resolve(dir, written);
        self.cache
            .entry((path.clone(), kind as u8))
            .or_insert_with(|| read_checked(&path, written, kind))
            .clone()
    }
}

/// Hint for an unknown reference: the closest declared name, or how to declare one.
fn reference_hint<'a>(word: &str, kind: &str, declared: impl Iterator<Item = &'a str>) -> String {
    match did_you_mean(word, declared) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("declare it in a manifest with `kind: {kind}`"),
    }
}

/// Checks every cross-document rule and the referenced files, and builds the desired state.
/// Names that invalid documents declare count as declared, so that a reference to a broken
/// document is not reported on top of its own mistakes. The returned [`Desired`] is meaningful
/// only when no error was pushed.
pub(crate) fn resolve_all(
    docs: Vec<Doc>,
    declared: &[Declared],
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Desired {
    // Duplicate names, per kind (teams per organisation).
    let mut first: HashMap<(&'static str, String), usize> = HashMap::new();
    let mut keep = vec![true; docs.len()];
    for (i, d) in docs.iter().enumerate() {
        let name = match &d.body {
            Body::Team(t) => format!("{}/{}", t.organisation, d.metadata.name),
            _ => d.metadata.name.to_string(),
        };
        let kind = d.body.kind();
        if let Some(&j) = first.get(&(kind, name.clone())) {
            keep[i] = false;
            errors.push(
                d.error_at("/metadata/name", format!("duplicate {kind} `{name}`"))
                    .with_hint(format!(
                        "first declared at {}",
                        docs[j].place("/metadata/name")
                    )),
            );
        } else {
            first.insert((kind, name), i);
        }
    }

    let names = |k: &str| -> BTreeSet<String> {
        docs.iter()
            .filter(|d| d.body.kind() == k)
            .map(|d| d.metadata.name.to_string())
            .chain(
                declared
                    .iter()
                    .filter(|d| d.kind == k)
                    .map(|d| d.name.clone()),
            )
            .collect()
    };
    let providers = names("Provider");
    let products = names("Product");
    let plans = names("Plan");
    let mut organisations = names("Organisation");
    organisations.insert(DEFAULT_ORG.to_owned());
    let teams: BTreeSet<String> = docs
        .iter()
        .filter_map(|d| match &d.body {
            Body::Team(t) => Some(format!("{}/{}", t.organisation, d.metadata.name)),
            _ => None,
        })
        .chain(declared.iter().filter_map(|d| {
            let org = d.organisation.as_ref().filter(|_| d.kind == "Team")?;
            Some(format!("{org}/{}", d.name))
        }))
        .collect();

    let check_provider = |d: &Doc, pointer: &str, p: &Name, errors: &mut Vec<Diagnostic>| {
        if !providers.contains(p.as_str()) {
            errors.push(
                d.error_at(pointer, format!("unknown Provider `{p}`"))
                    .with_hint(reference_hint(
                        p.as_str(),
                        "Provider",
                        providers.iter().map(String::as_str),
                    )),
            );
        }
    };

    // Policy names per provider, and adopted policy ids per provider (SPEC §2 "Ownership").
    let mut policy_names: HashMap<(String, String), (usize, String)> = HashMap::new();
    let mut adopted: HashMap<(String, String), usize> = HashMap::new();
    // Emails: the organisation each belongs to, and where it was first listed.
    let mut emails: HashMap<String, (String, usize, String)> = HashMap::new();

    let mut files = Files::default();
    let mut desired = Desired::default();

    for (i, d) in docs.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let dir: &Path = &d.file.dir;
        let source = Source {
            file: d.file.path.to_path_buf(),
            line: d.anchor.line,
        };
        let name = d.metadata.name.clone();
        match &d.body {
            Body::Provider(spec) => {
                let mut spec = spec.clone();
                if let SecretRef::FromFile(p) = &spec.secret {
                    let resolved = resolve(dir, p);
                    // Only existence is checked: the secret may be mounted at deploy time, and
                    // its content is never read here.
                    if !resolved.exists() {
                        warnings.push(d.warning_at(
                            "/spec/secret/fromFile",
                            format!(
                                "secret file `{}` does not exist (looked for {})",
                                p.display(),
                                resolved.display()
                            ),
                        ));
                    }
                    spec.secret = SecretRef::FromFile(resolved);
                }
                desired
                    .providers
                    .insert(name.clone(), Provider { name, spec, source });
            }
            Body::Product(spec) => {
                let mut spec = spec.clone();
                let adopts = spec.policy.as_ref().and_then(|p| p.id.clone());
                if let Some(p) = &spec.provider {
                    check_provider(d, "/spec/provider", p, errors);
                } else if !spec.apis.is_empty() {
                    errors.push(
                        d.error_at_key(
                            "/spec/apis",
                            "a Product with `apis` needs a `provider`".into(),
                        )
                        .with_hint("add `provider:` naming the Provider the APIs live on"),
                    );
                } else if adopts.is_some() {
                    errors.push(
                        d.error_at(
                            "/spec/policy/id",
                            "a Product that adopts a policy needs a `provider`".into(),
                        )
                        .with_hint("add `provider:` naming the Provider the policy lives on"),
                    );
                }
                check_policy_ref(d, spec.policy.as_ref(), errors);
                let owns_policy = !spec.apis.is_empty() || adopts.is_some();
                if owns_policy {
                    if let Some(provider) = &spec.provider {
                        policy_rule(
                            &docs,
                            i,
                            provider,
                            &spec.display_name,
                            spec.policy.as_ref(),
                            &mut policy_names,
                            &mut adopted,
                            errors,
                        );
                    }
                }
                let mut seen_api: HashMap<&str, usize> = HashMap::new();
                for (k, api) in spec.apis.iter().enumerate() {
                    if let Some(j) = seen_api.insert(api.api_id.as_str(), k) {
                        errors.push(
                            d.error_at(
                                &format!("/spec/apis/{k}/apiId"),
                                format!("API `{}` is listed twice in this product", api.api_id),
                            )
                            .with_hint(format!(
                                "first listed at {}",
                                d.place(&format!("/spec/apis/{j}/apiId"))
                            )),
                        );
                    }
                }

                // Referenced files.
                let mut text =
                    |pointer: String, p: &Path, kind: FileKind, errors: &mut Vec<Diagnostic>| {
                        match files.get(dir, p, kind) {
                            Ok(FileContent::Text(t)) => Some(t),
                            Ok(FileContent::Image(_)) => None,
                            Err(message) => {
                                errors.push(d.error_at(&pointer, message));
                                None
                            }
                        }
                    };
                let content = spec
                    .content
                    .as_ref()
                    .and_then(|p| text("/spec/content".into(), p, FileKind::Markdown, errors));
                let mut guides = Vec::new();
                for (k, g) in spec.guides.iter().enumerate() {
                    if let Some(markdown) = text(
                        format!("/spec/guides/{k}/file"),
                        &g.file,
                        FileKind::Markdown,
                        errors,
                    ) {
                        guides.push(LoadedGuide {
                            title: g.title.clone(),
                            markdown,
                        });
                    }
                }
                let mut openapi = BTreeMap::new();
                for (k, api) in spec.apis.iter().enumerate() {
                    if let Some(p) = &api.openapi {
                        if let Some(t) = text(
                            format!("/spec/apis/{k}/openapi"),
                            p,
                            FileKind::OpenApi,
                            errors,
                        ) {
                            openapi.insert(api.api_id.clone(), t);
                        }
                    }
                }
                let logo = match &spec.logo {
                    Some(p) => match files.get(dir, p, FileKind::Image) {
                        Ok(FileContent::Image(l)) => Some(l),
                        Ok(FileContent::Text(_)) => None,
                        Err(message) => {
                            errors.push(d.error_at("/spec/logo", message));
                            None
                        }
                    },
                    None => None,
                };
                // Paths in the resolved model are relative to where portalctl runs, not to
                // the manifest, so consumers never need to know where a manifest was.
                spec.content = spec.content.map(|p| resolve(dir, &p));
                spec.logo = spec.logo.map(|p| resolve(dir, &p));
                for g in &mut spec.guides {
                    g.file = resolve(dir, &g.file);
                }
                for api in &mut spec.apis {
                    api.openapi = api.openapi.take().map(|p| resolve(dir, &p));
                }
                desired.products.insert(
                    name.clone(),
                    Product {
                        name,
                        spec,
                        source,
                        content,
                        guides,
                        openapi,
                        logo,
                    },
                );
            }
            Body::Plan(spec) => {
                check_provider(d, "/spec/provider", &spec.provider, errors);
                check_policy_ref(d, spec.policy.as_ref(), errors);
                policy_rule(
                    &docs,
                    i,
                    &spec.provider,
                    &spec.display_name,
                    spec.policy.as_ref(),
                    &mut policy_names,
                    &mut adopted,
                    errors,
                );
                desired.plans.insert(
                    name.clone(),
                    Plan {
                        name,
                        spec: spec.clone(),
                        source,
                    },
                );
            }
            Body::Catalog(spec) => {
                for (k, p) in spec.products.iter().enumerate() {
                    if !products.contains(p.as_str()) {
                        errors.push(
                            d.error_at(
                                &format!("/spec/products/{k}"),
                                format!("unknown Product `{p}`"),
                            )
                            .with_hint(reference_hint(
                                p.as_str(),
                                "Product",
                                products.iter().map(String::as_str),
                            )),
                        );
                    }
                }
                for (k, p) in spec.plans.iter().enumerate() {
                    if !plans.contains(p.as_str()) {
                        errors.push(
                            d.error_at(&format!("/spec/plans/{k}"), format!("unknown Plan `{p}`"))
                                .with_hint(reference_hint(
                                    p.as_str(),
                                    "Plan",
                                    plans.iter().map(String::as_str),
                                )),
                        );
                    }
                }
                for (k, a) in spec.audiences.iter().enumerate() {
                    let pointer = format!("/spec/audiences/{k}");
                    if !organisations.contains(a.org.as_str()) {
                        errors.push(
                            d.error_at(&pointer, format!("unknown Organisation `{}`", a.org))
                                .with_hint(reference_hint(
                                    a.org.as_str(),
                                    "Organisation",
                                    organisations.iter().map(String::as_str),
                                )),
                        );
                    } else if !a.is_all_users() && !teams.contains(&a.to_string()) {
                        let in_org: Vec<String> = teams
                            .iter()
                            .filter_map(|t| t.strip_prefix(&format!("{}/", a.org)))
                            .map(str::to_owned)
                            .chain([ALL_USERS.to_owned()])
                            .collect();
                        let hint = match did_you_mean(a.team.as_str(), in_org.iter().map(String::as_str)) {
                            Some(s) => format!("did you mean `{}/{s}`?", a.org),
                            None => format!(
                                "declare it with `kind: Team`, or use `{}/{ALL_USERS}` for every member",
                                a.org
                            ),
                        };
                        errors.push(
                            d.error_at(&pointer, format!("unknown Team `{a}`"))
                                .with_hint(hint),
                        );
                    }
                }
                match spec.visibility {
                    Visibility::Private if spec.audiences.is_empty() => errors.push(
                        d.error_at(
                            "/spec/visibility",
                            "a private catalog needs `audiences`".into(),
                        )
                        .with_hint(
                            "list the teams that may see it, e.g. `audiences: [acme/all-users]`",
                        ),
                    ),
                    Visibility::Public if !spec.audiences.is_empty() => {
                        warnings.push(d.warning_at(
                            "/spec/visibility",
                            "`audiences` of a public catalog are ignored: everyone sees it".into(),
                        ))
                    }
                    _ => {}
                }
                desired.catalogs.insert(
                    name.clone(),
                    Catalog {
                        name,
                        spec: spec.clone(),
                        source,
                    },
                );
            }
            Body::Organisation(spec) => {
                for (k, e) in spec.members.iter().enumerate() {
                    email_rule(&docs, i, k, e.as_str(), name.as_str(), &mut emails, errors);
                }
                desired.organisations.insert(
                    name.clone(),
                    Organisation {
                        name,
                        spec: spec.clone(),
                        source,
                    },
                );
            }
            Body::Team(spec) => {
                if name.as_str() == ALL_USERS {
                    errors.push(
                        d.error_at(
                            "/metadata/name",
                            format!("`{ALL_USERS}` is the implicit team of every organisation"),
                        )
                        .with_hint(
                            "choose another name; members of the organisation are in it already",
                        ),
                    );
                }
                if !organisations.contains(spec.organisation.as_str()) {
                    errors.push(
                        d.error_at(
                            "/spec/organisation",
                            format!("unknown Organisation `{}`", spec.organisation),
                        )
                        .with_hint(reference_hint(
                            spec.organisation.as_str(),
                            "Organisation",
                            organisations.iter().map(String::as_str),
                        )),
                    );
                }
                for (k, e) in spec.members.iter().enumerate() {
                    email_rule(
                        &docs,
                        i,
                        k,
                        e.as_str(),
                        spec.organisation.as_str(),
                        &mut emails,
                        errors,
                    );
                }
                let reference = TeamRef {
                    org: spec.organisation.clone(),
                    team: name,
                };
                desired.teams.insert(
                    reference.clone(),
                    Team {
                        reference,
                        spec: spec.clone(),
                        source,
                    },
                );
            }
        }
    }
    desired
}

/// `policy` names either the policy to adopt (`id`) or the one to create (`name`), not both.
fn check_policy_ref(
    d: &Doc,
    policy: Option<&super::kinds::PolicyRef>,
    errors: &mut Vec<Diagnostic>,
) {
    if policy.is_some_and(|p| p.id.is_some() && p.name.is_some()) {
        errors.push(
            d.error_at(
                "/spec/policy",
                "`policy` takes either `id` or `name`, not both".into(),
            )
            .with_hint(
                "`id` adopts an existing Dashboard policy; `name` names the one portalctl creates",
            ),
        );
    }
}

/// Policy names must be unique per provider; an adopted policy id may be adopted only once.
#[allow(clippy::too_many_arguments)]
fn policy_rule(
    docs: &[Doc],
    i: usize,
    provider: &Name,
    display_name: &str,
    policy: Option<&super::kinds::PolicyRef>,
    names: &mut HashMap<(String, String), (usize, String)>,
    adopted: &mut HashMap<(String, String), usize>,
    errors: &mut Vec<Diagnostic>,
) {
    let d = &docs[i];
    let what = format!("{} `{}`", d.body.kind(), d.metadata.name);
    if let Some(id) = policy.and_then(|p| p.id.as_ref()) {
        match adopted.get(&(provider.to_string(), id.clone())) {
            Some(&j) => {
                let o = &docs[j];
                errors.push(
                    d.error_at(
                        "/spec/policy/id",
                        format!(
                            "{what} adopts policy `{id}` on Provider `{provider}`, which {} `{}` adopts already",
                            o.body.kind(),
                            o.metadata.name
                        ),
                    )
                    .with_hint(format!(
                        "a policy can be managed by one manifest only; see {}",
                        o.place("/spec/policy/id")
                    )),
                );
            }
            None => {
                adopted.insert((provider.to_string(), id.clone()), i);
            }
        }
        return;
    }
    let (policy_name, pointer) = match policy.and_then(|p| p.name.as_ref()) {
        Some(n) => (n.clone(), "/spec/policy/name"),
        None => (display_name.to_owned(), "/spec/displayName"),
    };
    match names.get(&(provider.to_string(), policy_name.clone())) {
        Some((j, other_pointer)) => {
            let o = &docs[*j];
            errors.push(
                d.error_at(
                    pointer,
                    format!(
                        "{what} would create policy `{policy_name}` on Provider `{provider}`, as {} `{}` does",
                        o.body.kind(),
                        o.metadata.name
                    ),
                )
                .with_hint(format!(
                    "policy names must be unique per provider: set `policy.name` on one of them (other at {})",
                    o.place(other_pointer)
                )),
            );
        }
        None => {
            names.insert((provider.to_string(), policy_name), (i, pointer.to_owned()));
        }
    }
}

/// An email may belong to one organisation only (team members belong to the team's one).
fn email_rule(
    docs: &[Doc],
    i: usize,
    k: usize,
    email: &str,
    org: &str,
    emails: &mut HashMap<String, (String, usize, String)>,
    errors: &mut Vec<Diagnostic>,
) {
    let pointer = format!("/spec/members/{k}");
    match emails.get(email) {
        Some((first_org, j, first_pointer)) if first_org != org => {
            errors.push(
                docs[i]
                    .error_at(
                        &pointer,
                        format!(
                            "`{email}` is a member of Organisation `{first_org}` already, and an email may belong to one organisation only"
                        ),
                    )
                    .with_hint(format!(
                        "first listed at {}",
                        docs[*j].place(first_pointer)
                    )),
            );
        }
        Some(_) => {}
        None => {
            emails.insert(email.to_owned(), (org.to_owned(), i, pointer));
        }
    }
}

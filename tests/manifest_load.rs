//! The loader on real files: the b2b example resolved into `Desired`, and the loading rules of
//! SPEC §1.1 (walking, multi-document files, skipped YAML, relative paths) on temp dirs.

use std::path::{Path, PathBuf};

use portalctl::manifest::{self, Severity};

const PROVIDER: &str = "apiVersion: portalctl/v1
kind: Provider
metadata: {name: tyk}
spec: {type: tyk-pro, url: 'http://localhost:3000', secret: {fromEnv: S}}
";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn b2b_example_resolves_into_desired() {
    let loaded = manifest::load(Path::new("examples/b2b")).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.documents, 10);
    assert_eq!(loaded.files, 7);
    let d = &loaded.desired;
    assert_eq!(
        d.counts(),
        [
            ("Provider", 1),
            ("Product", 2),
            ("Plan", 2),
            ("Catalog", 2),
            ("Organisation", 1),
            ("Team", 2)
        ]
    );
    let payment = &d.products["payment-api"];
    assert_eq!(payment.source.file, Path::new("examples/b2b/products.yaml"));
    assert_eq!(payment.source.line, 22);
    // Paths are rewritten relative to where portalctl runs, and the files are read.
    assert_eq!(
        payment.spec.content.as_deref(),
        Some(Path::new("examples/b2b/content/payment-api.md"))
    );
    assert!(payment
        .content
        .as_deref()
        .unwrap()
        .starts_with("# Payment API"));
    assert!(payment.openapi["payments"].contains("openapi: 3.0.3"));
    assert_eq!(payment.guides[0].title, "Getting started");
    assert_eq!(
        payment.spec.apis[0].openapi.as_deref(),
        Some(Path::new("examples/b2b/openapi/payments.yaml"))
    );
    let enterprise = &d.catalogs["enterprise"];
    assert_eq!(enterprise.spec.audiences.len(), 2);
    let team: portalctl::manifest::kinds::TeamRef =
        "b2b-customer/finance".to_owned().try_into().unwrap();
    assert_eq!(d.teams[&team].spec.display_name, "Finance");
    assert!(d.plans["free"].spec.auto_approve);
}

#[test]
fn empty_directory_is_an_empty_desired_state() {
    let tmp = tempfile::tempdir().unwrap();
    let loaded = manifest::load(tmp.path()).unwrap();
    assert!(loaded.desired.is_empty());
    assert_eq!(loaded.documents, 0);
}

#[test]
fn missing_path_is_a_located_error() {
    let errors = manifest::load(Path::new("does/not/exist")).unwrap_err();
    assert_eq!(errors.0.len(), 1);
    assert_eq!((errors.0[0].line, errors.0[0].column), (1, 1));
    assert!(errors.0[0].message.contains("no such file or directory"));
}

#[test]
fn walks_sorted_skips_other_yaml_and_resolves_paths_per_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write(root, "a-provider.yml", PROVIDER);
    // An OpenAPI file beside the manifests, a hidden folder and a non-YAML file are skipped.
    write(
        root,
        "apis/pets.yaml",
        "openapi: 3.1.0\ninfo: {title: Pets, version: '1'}\n",
    );
    write(root, ".git/config.yaml", "this: [is not even valid\n");
    write(root, "notes.txt", "kind: Product\n");
    write(root, "products/docs/pets.md", "# Pets\n");
    write(
        root,
        "products/pets.yaml",
        "\u{feff}# a comment, then two documents\n---\napiVersion: portalctl/v1\nkind: Product\nmetadata: {name: pets}\nspec:\n  provider: tyk\n  displayName: Pets\n  content: docs/pets.md\n  apis: [{apiId: pets, openapi: ../apis/pets.yaml}]\n---\n---\nbase: &base {provider: tyk, rateLimit: unlimited, quota: unlimited}\n---\napiVersion: portalctl/v1\nkind: Plan\nmetadata: {name: free}\nspec:\n  <<: {provider: tyk, rateLimit: unlimited, quota: unlimited}\n  displayName: Free\n",
    );
    let loaded = manifest::load(root).unwrap();
    assert_eq!(loaded.documents, 3);
    assert_eq!(loaded.files, 3);
    let pets = &loaded.desired.products["pets"];
    assert_eq!(pets.content.as_deref(), Some("# Pets\n"));
    assert!(pets.openapi["pets"].starts_with("openapi"));
    assert_eq!(pets.source.line, 4);
    assert_eq!(loaded.desired.plans["free"].spec.display_name, "Free");

    // A single file loads on its own (its references then dangle, but it is read and located).
    let errors = manifest::load(&root.join("products/pets.yaml")).unwrap_err();
    assert!(
        errors
            .iter()
            .all(|d| d.message.contains("unknown Provider `tyk`")),
        "{errors}"
    );
    assert_eq!((errors.0[0].line, errors.0[0].column), (7, 13));
}

#[test]
fn an_error_in_one_file_does_not_hide_another() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        tmp.path(),
        "a.yaml",
        "apiVersion: portalctl/v1\nkind: Plan\nmetadata: {name: a\n",
    );
    write(tmp.path(), "b.yaml", "apiVersion: portalctl/v1\nkind: Team\nmetadata: {name: b}\nspec: {organisation: acme, displayName: B, colour: red}\n");
    write(tmp.path(), "c.yaml", "apiVersion: portalctl/v1\nkind: Catalog\nmetadata: {name: c}\nspec: {displayName: C, visibility: private}\n");
    let errors = manifest::load(tmp.path()).unwrap_err();
    let files: Vec<_> = errors
        .iter()
        .map(|d| d.file.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(files, ["a.yaml", "b.yaml", "c.yaml"], "{errors}");
    assert_eq!(errors.0[1].message, "unknown field `colour` in `spec`");
    assert_eq!((errors.0[1].line, errors.0[1].column), (4, 44));
}

#[test]
fn secrets_from_files_are_resolved_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "secrets/tyk", "s3cr3t-value\n");
    let text = PROVIDER.replace("{fromEnv: S}", "{fromFile: secrets/tyk}");
    write(tmp.path(), "p.yaml", &text);
    write(
        tmp.path(),
        "q.yaml",
        &text
            .replace("name: tyk", "name: other")
            .replace("secrets/tyk", "secrets/absent"),
    );
    let loaded = manifest::load(tmp.path()).unwrap();
    let secret = loaded.desired.providers["tyk"].secret().clone();
    assert_eq!(
        secret,
        manifest::kinds::SecretRef::FromFile(tmp.path().join("secrets/tyk"))
    );
    // A missing secret file is only a warning: it may be mounted at deploy time.
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].severity, Severity::Warning);
    assert!(loaded.warnings[0].message.contains("secrets/absent"));
    let everything = format!("{:?}", loaded.desired);
    assert!(!everything.contains("s3cr3t-value"));
}

#[test]
fn policy_and_team_rules() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "p.yaml", PROVIDER);
    write(
        tmp.path(),
        "m.yaml",
        "apiVersion: portalctl/v1\nkind: Product\nmetadata: {name: a}\nspec: {provider: tyk, displayName: A, policy: {id: p1}}\n---\napiVersion: portalctl/v1\nkind: Plan\nmetadata: {name: b}\nspec: {provider: tyk, displayName: B, rateLimit: unlimited, quota: unlimited, policy: {id: p1}}\n---\napiVersion: portalctl/v1\nkind: Product\nmetadata: {name: docs}\nspec: {displayName: B}\n---\napiVersion: portalctl/v1\nkind: Team\nmetadata: {name: all-users}\nspec: {organisation: default, displayName: Everyone}\n---\napiVersion: portalctl/v1\nkind: Catalog\nmetadata: {name: pub}\nspec: {displayName: Pub, visibility: public, audiences: [default/all-users]}\n",
    );
    let (result, warnings) = manifest::load_with_warnings(tmp.path());
    let errors = result.unwrap_err();
    let messages: Vec<_> = errors
        .iter()
        .map(|d| (d.line, d.message.as_str()))
        .collect();
    // The documentation-only product named like plan B creates no policy: no clash.
    assert_eq!(messages.len(), 2, "{errors}");
    assert_eq!(messages[0].0, 9);
    assert!(messages[0]
        .1
        .contains("adopts policy `p1` on Provider `tyk`, which Product `a` adopts already"));
    assert_eq!(messages[1].0, 18);
    assert!(messages[1].1.contains("implicit team"));
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].message.contains("public catalog"));
}

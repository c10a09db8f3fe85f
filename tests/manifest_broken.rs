//! `examples/broken` holds one file per kind of mistake: every planted mistake must be reported
//! with the right file, line, column and message, and nothing else.

use std::path::Path;

use portalctl::manifest;

/// (file, line, column, start of the message) for every planted mistake, in report order.
const EXPECTED: &[(&str, u32, u32, &str)] = &[
    (
        "bad-name.yaml",
        5,
        9,
        "`metadata.name`: name \"Bad_Name\" may only contain lowercase letters, digits and '-'",
    ),
    (
        "bad-values.yaml",
        9,
        35,
        "`spec.rateLimit.per`: \"1 minute\" is not a duration",
    ),
    (
        "bad-values.yaml",
        10,
        10,
        "`spec.quota` must be a string or a mapping, not a number",
    ),
    (
        "bad-values.yaml",
        11,
        14,
        "`spec.keyExpiry`: \"forever\" is not a key expiry",
    ),
    (
        "bad-values.yaml",
        20,
        13,
        "`spec.members[0]`: \"not-an-email\" is not an email address",
    ),
    ("dangling-references.yaml", 7, 13, "unknown Provider `tik`"),
    (
        "dangling-references.yaml",
        16,
        13,
        "unknown Provider `nowhere`",
    ),
    (
        "dangling-references.yaml",
        28,
        15,
        "unknown Team `acme/nobody`",
    ),
    (
        "dangling-references.yaml",
        28,
        28,
        "unknown Organisation `hooli`",
    ),
    (
        "dangling-references.yaml",
        29,
        14,
        "unknown Product `base-prodcut`",
    ),
    ("dangling-references.yaml", 30, 11, "unknown Plan `gold`"),
    (
        "dangling-references.yaml",
        37,
        17,
        "unknown Organisation `initech`",
    ),
    (
        "duplicate-key.yaml",
        12,
        3,
        "duplicate key `rateLimit` in `spec`",
    ),
    ("duplicate-name.yaml", 13, 9, "duplicate Catalog `twice`"),
    (
        "email-in-two-orgs.yaml",
        17,
        13,
        "`jane@example.com` is a member of Organisation `globex` already",
    ),
    (
        "limits.yaml",
        12,
        33,
        "`spec.quota.per`: 1500ms is not a whole number of seconds, and Tyk holds `quota_renewal_rate` in whole seconds",
    ),
    (
        "limits.yaml",
        13,
        14,
        "`spec.keyExpiry`: 0.5s is not a whole number of seconds, and Tyk holds `key_expires_in` in whole seconds",
    ),
    (
        "limits.yaml",
        14,
        47,
        "`spec.accessRequestFrequency.per` must be longer than 0",
    ),
    (
        "missing-files.yaml",
        9,
        12,
        "file `files/missing.md` does not exist",
    ),
    (
        "missing-files.yaml",
        10,
        9,
        "`files/not-an-image.png` is not a PNG or JPEG image",
    ),
    (
        "missing-files.yaml",
        13,
        13,
        "`files/latin1.md` is not UTF-8 text",
    ),
    (
        "missing-files.yaml",
        16,
        16,
        "`files/not-openapi.yaml` is not an OpenAPI document",
    ),
    (
        "missing-files.yaml",
        18,
        16,
        "`files/unparsable.json` is not valid YAML or JSON",
    ),
    ("missing-spec.yaml", 3, 1, "missing required field `spec`"),
    // A syntax error in the second document and a wrong value in the fourth; the third is read
    // and the catalog's references to all four are found.
    (
        "multi-document.yaml",
        22,
        1,
        "invalid YAML: while parsing a flow sequence, expected ',' or ']'",
    ),
    (
        "multi-document.yaml",
        39,
        13,
        "`spec.featured` must be true or false, not `maybe`",
    ),
    (
        "policy-rules.yaml",
        9,
        16,
        "Plan `clash` would create policy `Base plan` on Provider `tyk`, as Plan `base-plan` does",
    ),
    (
        "policy-rules.yaml",
        20,
        11,
        "`policy` takes either `id` or `name`, not both",
    ),
    (
        "policy-rules.yaml",
        28,
        3,
        "a Product with `apis` needs a `provider`",
    ),
    (
        "private-catalog.yaml",
        8,
        15,
        "a private catalog needs `audiences`",
    ),
    (
        "syntax-error.yaml",
        11,
        8,
        "invalid YAML: illegal placement of ':' indicator",
    ),
    (
        "unknown-api-version.yaml",
        2,
        13,
        "unsupported apiVersion `portalctl/v2`",
    ),
    (
        "unknown-field.yaml",
        6,
        1,
        "`spec` is missing required field `displayName`",
    ),
    (
        "unknown-field.yaml",
        8,
        3,
        "unknown field `displayname` in `spec`",
    ),
    ("unknown-kind.yaml", 3, 7, "unknown kind `Prodcut`"),
    (
        "wrong-type.yaml",
        9,
        26,
        "`spec.rateLimit.requests` must be a number above 0 and at most 2^53, not `lots`",
    ),
    (
        "wrong-type.yaml",
        11,
        16,
        "`spec.autoApprove` must be true or false, not `sometimes`",
    ),
];

#[test]
fn every_planted_mistake_is_reported_where_it_is() {
    let errors = manifest::load(Path::new("examples/broken")).expect_err("broken must fail");
    let got: Vec<(String, u32, u32, String)> = errors
        .iter()
        .map(|d| {
            let file = d.file.file_name().unwrap().to_string_lossy().into_owned();
            (file, d.line, d.column, d.message.clone())
        })
        .collect();
    for (i, (file, line, column, message)) in EXPECTED.iter().enumerate() {
        let Some(g) = got.get(i) else {
            panic!("missing error {file}:{line}:{column}: {message}");
        };
        assert_eq!(
            (g.0.as_str(), g.1, g.2),
            (*file, *line, *column),
            "error #{i}: {g:?}"
        );
        assert!(
            g.3.starts_with(message),
            "error #{i}: {:?} does not start with {message:?}",
            g.3
        );
    }
    assert_eq!(
        got.len(),
        EXPECTED.len(),
        "unexpected extra errors: {:#?}",
        &got[EXPECTED.len().min(got.len())..]
    );
    assert!(errors
        .iter()
        .all(|d| d.severity == manifest::Severity::Error));
}

#[test]
fn hints_point_at_the_fix() {
    let errors = manifest::load(Path::new("examples/broken")).unwrap_err();
    let hint = |needle: &str| {
        errors
            .iter()
            .find(|d| d.message.contains(needle))
            .and_then(|d| d.hint.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        hint("unknown field `displayname`"),
        "did you mean `displayName`?"
    );
    assert_eq!(hint("unknown kind"), "did you mean `Product`?");
    assert_eq!(hint("unknown Provider `tik`"), "did you mean `tyk`?");
    assert_eq!(hint("unknown Product"), "did you mean `base-product`?");
    assert!(hint("duplicate Catalog").ends_with("duplicate-name.yaml:5:9"));
    assert!(hint("would create policy").contains("base.yaml:35:16"));
    assert!(hint("`spec.quota`").contains("unlimited"));
    assert_eq!(
        hint("invalid YAML: illegal placement"),
        "the `[` at line 10, column 14 is not closed"
    );
    assert_eq!(
        hint("duplicate key"),
        "it is set already at line 10, column 3; a key may appear once per mapping"
    );
    assert_eq!(hint("`spec.quota.per`"), "write 1s or 2s");
    assert_eq!(hint("`spec.keyExpiry`: 0.5s"), "write 1s");
}

#[test]
fn each_broken_file_fails_on_its_own_with_base() {
    // A mistake is found whatever else is loaded with it: every broken file, next to the valid
    // base, fails; base alone passes.
    let dir = Path::new("examples/broken");
    assert!(manifest::load(&dir.join("base.yaml")).is_ok());
    let files: Vec<_> = EXPECTED.iter().map(|e| e.0).collect();
    for name in files {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::copy(dir.join("base.yaml"), tmp.path().join("base.yaml")).unwrap();
        std::fs::copy(dir.join(name), tmp.path().join(name)).unwrap();
        // email-in-two-orgs needs nothing else; missing-files needs its fixtures.
        copy_dir(&dir.join("files"), &tmp.path().join("files"));
        let errors = manifest::load(tmp.path()).expect_err(name);
        assert!(
            errors.iter().all(|d| d.file.ends_with(name)),
            "{name}: {errors}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn validate_command_exit_codes_and_output() {
    let exe = env!("CARGO_BIN_EXE_portalctl");
    let ok = std::process::Command::new(exe)
        .args(["validate", "-f", "examples/b2b"])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&ok.stdout).trim(),
        "OK: 10 documents in 7 files — 1 Provider, 2 Products, 2 Plans, 2 Catalogs, 1 Organisation, 2 Teams"
    );

    let bad = std::process::Command::new(exe)
        .args(["validate", "-f", "examples/broken"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains(
        "examples/broken/unknown-field.yaml:8:3: error: unknown field `displayname` in `spec`\n  hint: did you mean `displayName`?"
    ), "{stderr}");

    let json = std::process::Command::new(exe)
        .args(["validate", "-f", "examples/broken", "--output", "json"])
        .output()
        .unwrap();
    assert_eq!(json.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["errors"].as_array().unwrap().len(), EXPECTED.len());
    assert_eq!(v["errors"][0]["file"], "examples/broken/bad-name.yaml");
    assert_eq!(v["errors"][0]["line"], 5);
    assert_eq!(v["errors"][0]["column"], 9);
    assert!(v["errors"][0]["hint"].is_null());
    assert!(v["warnings"].is_array());
}

//! YAML as people write it (issue 7 §2): identifiers and text that YAML reads as numbers or
//! booleans are taken exactly as written, numbers where numbers belong get our own messages, the
//! JSON Schemas accept what `validate` accepts, and one broken document never hides another, in
//! files of hundreds of documents with exact positions.

use std::path::{Path, PathBuf};

use portalctl::manifest::kinds::{Duration, KeyExpiry, Limit, RateLimit};
use portalctl::manifest::{self, Diagnostic};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, text).unwrap();
    p
}

const PROVIDER: &str = "apiVersion: portalctl/v1
kind: Provider
metadata: {name: tyk}
spec: {type: tyk-pro, url: 'http://localhost:3000', secret: {fromEnv: S}}
";

/// Loads `text` (beside the provider above) and returns the errors as `line:column: message`.
fn errors_of(text: &str) -> Vec<String> {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a-provider.yaml", PROVIDER);
    write(tmp.path(), "m.yaml", text);
    match manifest::load(tmp.path()) {
        Ok(_) => vec![],
        Err(e) => e
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect(),
    }
}

fn hints_of(text: &str) -> Vec<Option<String>> {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a-provider.yaml", PROVIDER);
    write(tmp.path(), "m.yaml", text);
    manifest::load(tmp.path())
        .err()
        .map(|e| e.iter().map(|d: &Diagnostic| d.hint.clone()).collect())
        .unwrap_or_default()
}

/// Manifests written the way people write YAML: numbers as names and ids, YAML 1.1 words as
/// text, hex and exponent numbers where numbers belong, anchors, tags.
const AS_WRITTEN: &str = r#"apiVersion: portalctl/v1
kind: Provider
metadata:
  name: 2024
  annotations: {owner: 42, reviewed: yes, ratio: 1.50, when: 2024-01-01}
spec:
  type: tyk-pro
  url: http://localhost:3000
  secret: {fromEnv: 12345}
  orgId: 5fd08e0f69710900018bc195
  policyTags: [2024, true, 0x1F, on]
  maxInFlight: 0x10
  timeout: 1.5s
---
apiVersion: portalctl/v1
kind: Product
metadata:
  name: 0042
spec:
  provider: 2024
  displayName: 2024
  description: 1.0
  tags: [2024, 1e3, .inf, no, ~tilde]
  apis:
    - apiId: 0042
      name: 12345
      versions: [1.0, 2, v3]
      allowedUrls: [{url: /users, methods: [GET, 1]}]
    - apiId: 99999999999999999999999
    - apiId: !!str 7
---
apiVersion: portalctl/v1
kind: Product
metadata: {name: 1e3}
spec:
  provider: 2024
  displayName: 1e3
  policy: {id: 1}
---
apiVersion: portalctl/v1
kind: Plan
metadata: {name: 0x1f}
spec:
  provider: 2024
  displayName: yes
  description: ~
  rateLimit: {requests: 1e3, per: 1500ms}
  quota: {requests: 0x3E8, per: 0.5m}
  keyExpiry: 90d
  autoApprove: True
  accessRequestFrequency: {requests: !!int "3", per: 30d}
  credentialMetadata: {tier: 1, enabled: true, ratio: 0.50, empty: '', id: &id 0042, copy: *id}
  policy: {name: 1.10}
---
apiVersion: portalctl/v1
kind: Organisation
metadata: {name: 007}
spec:
  displayName: 007
  members: [bond@mi6.example]
---
apiVersion: portalctl/v1
kind: Team
metadata: {name: 1}
spec: {organisation: 007, displayName: false}
---
apiVersion: portalctl/v1
kind: Catalog
metadata: {name: 2025}
spec:
  displayName: 2025
  visibility: private
  audiences: [007/1, 007/all-users]
  products: [
    "0042",
    1e3
  ]
  plans: [0x1f]
"#;

#[test]
fn identifiers_and_text_are_taken_exactly_as_written() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "m.yaml", AS_WRITTEN);
    let loaded = manifest::load(tmp.path()).unwrap_or_else(|e| panic!("{e}"));
    let d = &loaded.desired;
    let provider = &d.providers["2024"];
    assert_eq!(provider.spec.policy_tags, ["2024", "true", "0x1F", "on"]);
    assert_eq!(provider.spec.max_in_flight, Some(16));
    assert_eq!(
        provider.spec.timeout,
        Some(Duration::parse("1500ms").unwrap())
    );
    let product = &d.products["0042"];
    assert_eq!(product.spec.display_name, "2024");
    assert_eq!(product.spec.description.as_deref(), Some("1.0"));
    assert_eq!(product.spec.tags, ["2024", "1e3", ".inf", "no", "~tilde"]);
    let apis = &product.spec.apis;
    assert_eq!(apis[0].api_id, "0042");
    assert_eq!(apis[0].name.as_deref(), Some("12345"));
    assert_eq!(apis[0].versions.as_deref().unwrap(), ["1.0", "2", "v3"]);
    assert_eq!(
        apis[0].allowed_urls.as_ref().unwrap()[0].methods,
        ["GET", "1"]
    );
    assert_eq!(apis[1].api_id, "99999999999999999999999");
    assert_eq!(apis[2].api_id, "7");
    let adopted = &d.products["1e3"];
    assert_eq!(
        adopted.spec.policy.as_ref().unwrap().id.as_deref(),
        Some("1")
    );
    let plan = &d.plans["0x1f"];
    assert_eq!(plan.spec.display_name, "yes");
    assert_eq!(plan.spec.description, None);
    assert_eq!(
        plan.spec.rate_limit,
        RateLimit::Every {
            requests: 1000.0,
            per: Duration::parse("1.5s").unwrap()
        }
    );
    assert_eq!(
        plan.spec.quota,
        Limit::Every {
            requests: 1000,
            per: Duration::parse("30s").unwrap()
        }
    );
    assert_eq!(
        plan.spec.key_expiry,
        Some(KeyExpiry::After(Duration::parse("90d").unwrap()))
    );
    assert!(plan.spec.auto_approve);
    let meta = &plan.spec.credential_metadata;
    assert_eq!(meta["tier"], "1");
    assert_eq!(meta["enabled"], "true");
    assert_eq!(meta["ratio"], "0.50");
    assert_eq!(meta["empty"], "");
    assert_eq!(meta["id"], "0042");
    assert_eq!(meta["copy"], "0042");
    assert_eq!(
        plan.spec.policy.as_ref().unwrap().name.as_deref(),
        Some("1.10")
    );
    assert_eq!(d.organisations["007"].spec.display_name, "007");
    let team: portalctl::manifest::kinds::TeamRef = "007/1".to_owned().try_into().unwrap();
    assert_eq!(d.teams[&team].spec.display_name, "false");
    assert_eq!(d.catalogs["2025"].spec.products.len(), 2);
}

#[test]
fn the_schemas_accept_what_validate_accepts() {
    // An editor reads YAML 1.2 without knowing what the manifest wants: `0042` and `2024` are
    // numbers to it, `yes` is text. The published schemas must accept those documents.
    let text = std::fs::read_to_string("schemas/portalctl.schema.json").unwrap();
    let combined = jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap();
    let mut checked = 0;
    for doc in manifest::yaml::read(AS_WRITTEN) {
        assert!(doc.problems.is_empty());
        let json = doc.root.unwrap().to_json_1_2();
        let errors: Vec<String> = combined.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{json}: {errors:?}");
        checked += 1;
    }
    assert_eq!(checked, 7);
    // And serde_yaml's reading too, which differs (`0042` is text to it), where it can read a
    // document at all: it refuses an integer beyond 128 bits, which portalctl takes as text.
    let mut read = 0;
    for d in serde_yaml::Deserializer::from_str(AS_WRITTEN) {
        use serde::Deserialize;
        let Ok(v) = serde_yaml::Value::deserialize(d) else {
            continue;
        };
        let json = serde_json::to_value(v).unwrap();
        let errors: Vec<String> = combined.iter_errors(&json).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{json}: {errors:?}");
        read += 1;
    }
    assert_eq!(read, 6);
}

#[test]
fn numbers_where_numbers_belong_get_our_messages() {
    let plan = |rate: &str, quota: &str, extra: &str| {
        format!(
            "apiVersion: portalctl/v1\nkind: Plan\nmetadata: {{name: p}}\nspec:\n  provider: tyk\n  displayName: P\n  rateLimit: {rate}\n  quota: {quota}\n{extra}"
        )
    };
    let cases: &[(String, &str)] = &[
        (
            plan("{requests: lots, per: 1s}", "unlimited", ""),
            "7:25: `spec.rateLimit.requests` must be a number above 0 and at most 2^53, not `lots`",
        ),
        (
            plan("{requests: 0, per: 1s}", "unlimited", ""),
            "7:25: `spec.rateLimit.requests` must be a number above 0 and at most 2^53, not `0`",
        ),
        (
            plan("{requests: -2.5, per: 1s}", "unlimited", ""),
            "7:25: `spec.rateLimit.requests` must be a number above 0 and at most 2^53, not `-2.5`",
        ),
        (
            plan("{requests: .inf, per: 1s}", "unlimited", ""),
            "7:25: `spec.rateLimit.requests` must be a number above 0 and at most 2^53, not `.inf`",
        ),
        (
            plan("unlimited", "{requests: 2.5, per: 1d}", ""),
            "8:21: `spec.quota.requests` must be a whole number from 1 to 2^53, not `2.5`",
        ),
        (
            plan("unlimited", "{requests: 9007199254740993, per: 1d}", ""),
            "8:21: `spec.quota.requests` must be a whole number from 1 to 2^53, not `9007199254740993`",
        ),
        (
            plan("unlimited", "{requests: 1_000, per: 1d}", ""),
            "8:21: `spec.quota.requests` must be a whole number from 1 to 2^53, not `1_000`",
        ),
        (
            plan("unlimited", "{requests: '10', per: 1d}", ""),
            "8:21: `spec.quota.requests` must be a whole number from 1 to 2^53, not `10`",
        ),
        (
            plan("unlimited", "unlimited", "  autoApprove: yes\n"),
            "9:16: `spec.autoApprove` must be true or false, not `yes`",
        ),
        (
            plan("unlimited", "unlimited", "  displayName: ~\n"),
            "9:3: duplicate key `displayName` in `spec`",
        ),
        (
            plan("unlimited", "unlimited", "  description: [a]\n"),
            "9:16: `spec.description` must be a string, not a list",
        ),
        (
            plan("unlimited", "unlimited", "  credentialMetadata: {tier: [1]}\n"),
            "9:30: `spec.credentialMetadata.tier` must be a string, not a list",
        ),
        (
            plan("unlimited", "unlimited", "  policy: {id: !custom 5}\n"),
            "9:24: YAML tags such as `!custom` are not supported",
        ),
        (
            plan("unlimited", "unlimited", "  keyExpiry: 36501d\n"),
            "9:14: `spec.keyExpiry`: duration \"36501d\" is too long (at most 100 years)",
        ),
    ];
    for (text, expected) in cases {
        let got = errors_of(text);
        assert_eq!(got, [expected.to_string()], "{text}");
        assert!(!got[0].contains("invalid type"), "{got:?}");
    }
    // The provider's numbers too.
    let got = errors_of(&PROVIDER.replace("name: tyk", "name: tyk2").replace(
        "secret: {fromEnv: S}",
        "secret: {fromEnv: S}, maxInFlight: 1e3",
    ));
    assert_eq!(
        got,
        ["4:88: `spec.maxInFlight` must be a whole number from 1 to 256, not `1000`"]
    );
    // Empty values are placed on their key, where the user looks.
    let got = errors_of(
        "apiVersion: portalctl/v1\nkind: Organisation\nmetadata: {name: o}\nspec:\n  displayName:\n  members: [a@b.example]\n",
    );
    assert_eq!(got, ["5:3: `spec.displayName` must be a string, not empty"]);
}

#[test]
fn hints_explain_yaml_1_1_words_and_quotes() {
    let plan = |extra: &str| {
        format!(
            "apiVersion: portalctl/v1\nkind: Plan\nmetadata: {{name: p}}\nspec:\n  provider: tyk\n  displayName: P\n  rateLimit: unlimited\n{extra}"
        )
    };
    assert_eq!(
        hints_of(&plan("  quota: unlimited\n  autoApprove: yes\n")),
        [Some(
            "YAML 1.2 reads `yes` as text: write `true`".to_owned()
        )]
    );
    assert_eq!(
        hints_of(&plan("  quota: unlimited\n  autoApprove: Off\n")),
        [Some(
            "YAML 1.2 reads `Off` as text: write `false`".to_owned()
        )]
    );
    assert_eq!(
        hints_of(&plan("  quota: {requests: 1_000, per: 1d}\n")),
        [Some(
            "YAML 1.2 reads `1_000` as text: write 1000".to_owned()
        )]
    );
    assert_eq!(
        hints_of(&plan("  quota: {requests: 0b1010, per: 1d}\n")),
        [Some("YAML 1.2 reads `0b1010` as text: write 10".to_owned())]
    );
    assert_eq!(
        hints_of(&plan("  quota: {requests: \"10\", per: 1d}\n")),
        [Some("the quotes make it text: remove them".to_owned())]
    );
}

#[test]
fn hundreds_of_documents_one_broken_link_one_broken_document() {
    // 400 products in one file, written with unquoted numeric ids; document 150 has a YAML
    // error, document 300 a wrong value, and the catalog lists every product plus one that
    // does not exist. Exactly three errors, at their exact places.
    let mut text = String::new();
    let mut line = 1;
    let mut places = Vec::new();
    for i in 0..400 {
        if i > 0 {
            text.push_str("---\n");
            line += 1;
        }
        let apis = if i == 150 {
            places.push(line + 7);
            format!("[{{apiId: {i:04}}}\n")
        } else {
            format!("[{{apiId: {i:04}}}]\n")
        };
        let featured = if i == 300 {
            places.push(line + 6);
            "  featured: sometimes\n"
        } else {
            ""
        };
        let doc = format!(
            "apiVersion: portalctl/v1\nkind: Product\nmetadata:\n  name: {i:04}\nspec:\n  provider: tyk\n{featured}  displayName: {i}\n  apis: {apis}"
        );
        line += doc.matches('\n').count() as u32;
        text.push_str(&doc);
    }
    let names: Vec<String> = (0..400).map(|i| format!("{i:04}")).collect();
    text.push_str(&format!(
        "---\napiVersion: portalctl/v1\nkind: Catalog\nmetadata: {{name: all}}\nspec:\n  displayName: All\n  visibility: public\n  products: [{}, 0400]\n",
        names.join(", ")
    ));
    let catalog_line = line + 7;
    let got = errors_of(&text);
    assert_eq!(got.len(), 3, "{got:#?}");
    // The broken flow list is reported where the next document starts.
    assert_eq!(
        got[0],
        format!(
            "{}:1: invalid YAML: while parsing a flow sequence, expected ',' or ']'",
            places[0] + 1
        )
    );
    assert_eq!(
        got[1],
        format!(
            "{}:13: `spec.featured` must be true or false, not `sometimes`",
            places[1]
        )
    );
    let column = "  products: [".len() + names.join(", ").len() + ", ".len() + 1;
    assert_eq!(
        got[2],
        format!("{catalog_line}:{column}: unknown Product `0400`")
    );
}

#[test]
fn every_error_of_every_document_and_no_cascade() {
    // The second document misses a required field, the third has a duplicate key and the
    // fourth an unknown anchor; a team and a catalog refer to all of them.
    let text = "apiVersion: portalctl/v1
kind: Organisation
metadata: {name: acme}
spec: {displayName: ACME}
---
apiVersion: portalctl/v1
kind: Organisation
metadata: {name: globex}
spec: {members: [a@globex.example]}
---
apiVersion: portalctl/v1
kind: Team
metadata: {name: devs}
spec: {organisation: acme, displayName: Devs, displayName: Developers}
---
apiVersion: portalctl/v1
kind: Plan
metadata: {name: gold}
spec: {provider: tyk, displayName: *gold, rateLimit: unlimited, quota: unlimited}
---
apiVersion: portalctl/v1
kind: Catalog
metadata: {name: c}
spec:
  displayName: C
  visibility: private
  audiences: [acme/devs, globex/all-users]
  plans: [gold]
";
    let got = errors_of(text);
    assert_eq!(
        got,
        [
            "9:1: `spec` is missing required field `displayName`",
            "14:47: duplicate key `displayName` in `spec`",
            "19:36: invalid YAML: while parsing node, found unknown anchor",
        ],
        "{got:#?}"
    );
}

#[test]
fn duplicate_keys_point_at_the_repeated_key_at_any_depth() {
    let got = errors_of(
        "apiVersion: portalctl/v1\nkind: Product\nmetadata:\n  name: p\n  name: q\nspec:\n  provider: tyk\n  displayName: P\n  apis:\n    - apiId: a\n      versions: [v1]\n      apiId: b\n",
    );
    assert_eq!(
        got,
        [
            "5:3: duplicate key `name` in `metadata`",
            "12:7: duplicate key `apiId` in `spec.apis[0]`",
        ]
    );
    let got = errors_of("kind: Team\napiVersion: portalctl/v1\nkind: Team\n");
    assert_eq!(got, ["3:1: duplicate key `kind`"]);
}

#[test]
fn what_passes_the_schema_parses() {
    // U+0085 (NEL) is no space to ECMAScript's `\s` but is one to Rust: the email pattern names it,
    // so the schema refuses the address rather than the typed parse failing after it.
    let got = errors_of(
        "apiVersion: portalctl/v1\nkind: Organisation\nmetadata: {name: o}\nspec:\n  displayName: O\n  members: [\"b@\\x85cme.example\"]\n",
    );
    assert_eq!(
        got,
        ["6:13: `spec.members[0]`: \"b@\\u{85}cme.example\" is not an email address"]
    );
}

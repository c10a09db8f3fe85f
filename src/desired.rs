//! The desired state: validated, resolved manifests, ready for the diff.
//!
//! A [`Desired`] can only be built by `manifest::load` after every validation rule passed, so the
//! reconciler never sees a dangling reference or a missing file. Files named by manifests
//! (markdown, OpenAPI, logos) are read once here; secrets are not: they stay references until a
//! Dashboard client needs them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::manifest::kinds::{
    CatalogSpec, Name, OrganisationSpec, PlanSpec, ProductSpec, ProviderSpec, SecretRef, TeamRef,
    TeamSpec,
};

/// Where a document came from, for messages that point back at the manifests.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Source {
    /// The manifest file, as found by the loader (relative to where portalctl was started).
    pub file: PathBuf,
    /// 1-based line of the document's `kind` (or its first line).
    pub line: u32,
}

/// The kinds of objects, in dependency order: an object may only refer to kinds before it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum Kind {
    /// A Tyk Dashboard.
    Provider,
    /// An organisation.
    Organisation,
    /// A team in an organisation.
    Team,
    /// An API product.
    Product,
    /// A plan.
    Plan,
    /// A catalog.
    Catalog,
}

impl Kind {
    /// Every kind in dependency order (create top-down, delete bottom-up).
    pub const ALL: [Kind; 6] = [
        Kind::Provider,
        Kind::Organisation,
        Kind::Team,
        Kind::Product,
        Kind::Plan,
        Kind::Catalog,
    ];

    /// The manifest `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Provider => "Provider",
            Kind::Organisation => "Organisation",
            Kind::Team => "Team",
            Kind::Product => "Product",
            Kind::Plan => "Plan",
            Kind::Catalog => "Catalog",
        }
    }

    /// Lowercase, as in policy ids and `--target KIND/NAME`.
    pub fn lower(self) -> &'static str {
        match self {
            Kind::Provider => "provider",
            Kind::Organisation => "organisation",
            Kind::Team => "team",
            Kind::Product => "product",
            Kind::Plan => "plan",
            Kind::Catalog => "catalog",
        }
    }

    /// Parses either spelling.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s || k.lower() == s.to_ascii_lowercase())
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every object the manifests declare, keyed by name and sorted.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    /// Tyk Dashboards.
    pub providers: BTreeMap<Name, Provider>,
    /// API products.
    pub products: BTreeMap<Name, Product>,
    /// Plans.
    pub plans: BTreeMap<Name, Plan>,
    /// Catalogs.
    pub catalogs: BTreeMap<Name, Catalog>,
    /// Organisations declared by manifests (the implicit `default` is not listed).
    pub organisations: BTreeMap<Name, Organisation>,
    /// Teams declared by manifests (the implicit `org/all-users` teams are not listed).
    pub teams: BTreeMap<TeamRef, Team>,
}

/// A validated Provider.
#[derive(Debug, Clone)]
pub struct Provider {
    /// `metadata.name`.
    pub name: Name,
    /// The spec with `secret.fromFile` resolved against the manifest's folder.
    pub spec: ProviderSpec,
    /// Where it was declared.
    pub source: Source,
}

impl Provider {
    /// The secret reference, with a relative `fromFile` already resolved.
    pub fn secret(&self) -> &SecretRef {
        &self.spec.secret
    }
}

/// A validated Product with the files it names already read.
#[derive(Debug, Clone)]
pub struct Product {
    /// `metadata.name`.
    pub name: Name,
    /// The spec with every path resolved against the manifest's folder.
    pub spec: ProductSpec,
    /// Where it was declared.
    pub source: Source,
    /// The markdown of `content`, if any.
    pub content: Option<String>,
    /// The guides, in manifest order, with their markdown.
    pub guides: Vec<LoadedGuide>,
    /// OpenAPI documents by `apiId`, as the text of the file.
    pub openapi: BTreeMap<String, String>,
    /// The logo, if any.
    pub logo: Option<Logo>,
}

/// A guide with its markdown read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedGuide {
    /// Its title.
    pub title: String,
    /// Its markdown.
    pub markdown: String,
}

/// A logo image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    /// `image/png` or `image/jpeg`.
    pub mime: &'static str,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// A validated Plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `metadata.name`.
    pub name: Name,
    /// The spec.
    pub spec: PlanSpec,
    /// Where it was declared.
    pub source: Source,
}

/// A validated Catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// `metadata.name`.
    pub name: Name,
    /// The spec.
    pub spec: CatalogSpec,
    /// Where it was declared.
    pub source: Source,
}

/// A validated Organisation.
#[derive(Debug, Clone)]
pub struct Organisation {
    /// `metadata.name`.
    pub name: Name,
    /// The spec.
    pub spec: OrganisationSpec,
    /// Where it was declared.
    pub source: Source,
}

/// A validated Team.
#[derive(Debug, Clone)]
pub struct Team {
    /// `organisation/metadata.name`.
    pub reference: TeamRef,
    /// The spec.
    pub spec: TeamSpec,
    /// Where it was declared.
    pub source: Source,
}

impl Desired {
    /// Number of objects per kind, in `KINDS` order, for summaries.
    pub fn counts(&self) -> [(&'static str, usize); 6] {
        [
            ("Provider", self.providers.len()),
            ("Product", self.products.len()),
            ("Plan", self.plans.len()),
            ("Catalog", self.catalogs.len()),
            ("Organisation", self.organisations.len()),
            ("Team", self.teams.len()),
        ]
    }

    /// True when the manifests declare nothing at all.
    pub fn is_empty(&self) -> bool {
        self.counts().iter().all(|(_, n)| *n == 0)
    }
}

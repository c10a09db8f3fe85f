-- portalctl schema, version 1. One file serves SQLite and PostgreSQL: only TEXT, BIGINT and
-- BOOLEAN columns, timestamps as Unix milliseconds, JSON as TEXT.

-- Objects declared by manifests. `doc` is the canonical JSON the reconciler compares; the other
-- columns are what the portal queries.
CREATE TABLE providers (
    name        TEXT PRIMARY KEY,
    url         TEXT NOT NULL,
    gateway_url TEXT,
    doc         TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE products (
    name         TEXT PRIMARY KEY,
    provider     TEXT,
    display_name TEXT NOT NULL,
    featured     BOOLEAN NOT NULL,
    status       TEXT NOT NULL,           -- active | retired
    doc          TEXT NOT NULL,
    logo         TEXT,                    -- base64 of the image named by doc.logo
    updated_at   BIGINT NOT NULL
);

CREATE TABLE plans (
    name         TEXT PRIMARY KEY,
    provider     TEXT NOT NULL,
    display_name TEXT NOT NULL,
    auto_approve BOOLEAN NOT NULL,
    status       TEXT NOT NULL,           -- active | retired
    doc          TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE catalogs (
    name         TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    visibility   TEXT NOT NULL,           -- public | private
    doc          TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE catalog_products (
    catalog TEXT NOT NULL,
    product TEXT NOT NULL,
    PRIMARY KEY (catalog, product)
);

CREATE TABLE catalog_plans (
    catalog TEXT NOT NULL,
    plan    TEXT NOT NULL,
    PRIMARY KEY (catalog, plan)
);

CREATE TABLE catalog_audiences (
    catalog      TEXT NOT NULL,
    organisation TEXT NOT NULL,
    team         TEXT NOT NULL,
    PRIMARY KEY (catalog, organisation, team)
);

CREATE TABLE organisations (
    name         TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    doc          TEXT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE teams (
    organisation TEXT NOT NULL,
    name         TEXT NOT NULL,
    display_name TEXT NOT NULL,
    doc          TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (organisation, name)
);

-- Who belongs where, derived from organisation and team members (team `all-users` included).
CREATE TABLE memberships (
    email        TEXT NOT NULL,
    organisation TEXT NOT NULL,
    team         TEXT NOT NULL,
    PRIMARY KEY (email, organisation, team)
);
CREATE INDEX memberships_org ON memberships (organisation);

-- The Dashboard policy behind each product or plan.
CREATE TABLE policy_refs (
    kind       TEXT NOT NULL,             -- Product | Plan
    name       TEXT NOT NULL,
    provider   TEXT NOT NULL,
    policy_id  TEXT NOT NULL,             -- the policy `id`
    policy_mid TEXT NOT NULL,             -- the Dashboard `_id`
    origin     TEXT NOT NULL,             -- created | adopted
    last_seen  TEXT NOT NULL,             -- JSON of the owned fields as last written or read
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);

-- The apply lock: a lease with an expiry, renewed while its holder lives.
CREATE TABLE apply_lock (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       TEXT NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- The portal's own data.
CREATE TABLE developers (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT,
    verified      BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE apps (
    id           TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX apps_developer ON apps (developer_id);

CREATE TABLE access_requests (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL,
    developer_id TEXT NOT NULL,
    provider     TEXT NOT NULL,
    plan         TEXT NOT NULL,
    products     TEXT NOT NULL,           -- JSON array of product names
    status       TEXT NOT NULL,           -- pending | approved | rejected
    created_at   BIGINT NOT NULL,
    decided_at   BIGINT
);
CREATE INDEX access_requests_app ON access_requests (app_id);

CREATE TABLE credentials (
    id                TEXT PRIMARY KEY,
    app_id            TEXT NOT NULL,
    access_request_id TEXT,
    provider          TEXT NOT NULL,
    plan              TEXT NOT NULL,
    products          TEXT NOT NULL,      -- JSON array of product names
    key_hash          TEXT NOT NULL,
    key_sealed        TEXT,               -- the key, encrypted, until revealed once
    status            TEXT NOT NULL,      -- active | revoked
    created_at        BIGINT NOT NULL,
    revoked_at        BIGINT
);
CREATE INDEX credentials_plan ON credentials (plan, status);

CREATE TABLE credential_products (
    credential_id TEXT NOT NULL,
    product       TEXT NOT NULL,
    PRIMARY KEY (credential_id, product)
);
CREATE INDEX credential_products_product ON credential_products (product);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

CREATE TABLE reconcile_runs (
    id             TEXT PRIMARY KEY,
    started_at     BIGINT NOT NULL,
    finished_at    BIGINT NOT NULL,
    result         TEXT NOT NULL,
    changes        BIGINT NOT NULL,
    drift_repaired BIGINT NOT NULL,
    errors         TEXT NOT NULL
);

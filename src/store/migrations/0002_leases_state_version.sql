-- portalctl schema, version 2: named leases with fencing epochs on the database's clock, the
-- change marker that `serve` replicas poll, and an index for the last reconcile run.
-- Like 0001, one file serves SQLite and PostgreSQL; timestamps are Unix milliseconds.

-- Named leases (`apply`, `leader`). Every time is the database's clock, never a machine's.
-- A released lease keeps its row (token '') so that `epoch` only ever grows: a writer fenced by
-- (token, epoch) can never be confused with a later holder.
CREATE TABLE leases (
    name        TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,            -- user@host (pid N)
    token       TEXT NOT NULL,            -- random per acquisition; '' once released
    epoch       BIGINT NOT NULL,          -- fencing generation: +1 on every acquisition
    acquired_at BIGINT NOT NULL,
    renewed_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

-- Replaced by `leases`. A portalctl that still used it refuses this database (its migrator does
-- not know version 2), so no old apply can take a lock the new ones do not see.
DROP TABLE apply_lock;

-- Bumped by every apply transaction: replicas poll it to know when to reload their catalog.
CREATE TABLE state_version (
    id      BIGINT PRIMARY KEY,           -- always 1
    version BIGINT NOT NULL
);
INSERT INTO state_version (id, version) VALUES (1, 0);

CREATE INDEX reconcile_runs_started ON reconcile_runs (started_at);

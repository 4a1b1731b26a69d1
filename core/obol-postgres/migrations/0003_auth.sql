-- Auth: API keys, stored as SHA-256 hashes (the key itself is shown once and never kept);
-- users (email unique per tenant, password as an argon2id hash); failed sign-ins; sessions
-- (refresh tokens as SHA-256 hashes, one row per rotation, grouped in families); signing keys
-- (private keys sealed under the key-encryption key, never stored in clear).

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    body        TEXT NOT NULL
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, created_at);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    email       TEXT NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    UNIQUE (merchant_id, email)
);

CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at  BIGINT NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (key, at);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    family       TEXT NOT NULL,
    merchant_id  TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    refresh_hash TEXT NOT NULL UNIQUE,
    rotated_at   BIGINT,
    revoked_at   BIGINT,
    body         TEXT NOT NULL
);
CREATE INDEX sessions_by_family ON sessions (family);
CREATE INDEX sessions_by_user ON sessions (merchant_id, user_id);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    created_at   BIGINT NOT NULL,
    body         TEXT NOT NULL
);

-- Auth: API keys, stored as SHA-256 hashes (the key itself is shown once and never kept).

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    body        TEXT NOT NULL
);
CREATE INDEX api_keys_by_merchant ON api_keys (merchant_id, created_at);

-- Payments: one row per payment (its full state as JSON text, so amounts stay exact integers),
-- and the outbox of domain events written in the same transaction as each change.

CREATE TABLE payments (
    id         TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX payments_by_status ON payments (status, updated_at);

CREATE TABLE payment_events (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Idempotency keys: the first response of a key, replayed to every retry.
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    response     TEXT,
    lease_until  BIGINT NOT NULL
);

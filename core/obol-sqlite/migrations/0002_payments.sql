-- Payments: one row per payment (its full state as JSON, amounts as exact integers), and the
-- outbox of domain events written in the same transaction as each change.

CREATE TABLE payments (
    id         TEXT PRIMARY KEY,
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    -- The provider and its charge reference, to match incoming provider webhooks.
    provider   TEXT,
    reference  TEXT,
    body       TEXT NOT NULL
);
CREATE INDEX payments_by_status ON payments (status, updated_at);
CREATE INDEX payments_by_reference ON payments (provider, reference);

-- Refunds and disputes of a payment, each with its own status and version.
CREATE TABLE payment_children (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    payment_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL,
    version    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX payment_children_by_payment ON payment_children (payment_id, seq);
CREATE INDEX payment_children_by_status ON payment_children (kind, status, updated_at);

CREATE TABLE payment_events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    payment_id TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    -- Set once the event has been turned into webhook deliveries.
    fanned_out INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX payment_events_to_fan_out ON payment_events (seq) WHERE fanned_out = 0;

-- Idempotency keys: the first response of a key, replayed to every retry.
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    response     TEXT,
    lease_until  INTEGER NOT NULL
);

-- Webhooks: endpoints (secrets as whsec_ text), one delivery per event and endpoint, and
-- every attempt.
CREATE TABLE webhook_endpoints (
    id         TEXT PRIMARY KEY,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_seq       INTEGER NOT NULL,
    endpoint_id     TEXT NOT NULL,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';

CREATE TABLE webhook_attempts (
    delivery_id BIGINT NOT NULL,
    event_id    TEXT NOT NULL,
    endpoint_id TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,
    error       TEXT
);
CREATE INDEX webhook_attempts_by_event ON webhook_attempts (event_id, attempt);

-- Customers and their saved payment methods (provider tokens, never card data).
CREATE TABLE customers (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);

CREATE TABLE payment_methods (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    detached    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    body        TEXT NOT NULL
);
CREATE INDEX payment_methods_by_customer ON payment_methods (customer_id, created_at);

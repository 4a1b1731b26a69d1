-- Obol ledger on PostgreSQL. Amounts are NUMERIC(39,0): exact for every i128;
-- times are microseconds since the Unix epoch (BIGINT), as on every Obol store.

CREATE TABLE assets (
    code  TEXT PRIMARY KEY,
    scale SMALLINT NOT NULL
);

CREATE TABLE accounts (
    id                             TEXT PRIMARY KEY,
    asset                          TEXT NOT NULL,
    normal_balance                 TEXT NOT NULL CHECK (normal_balance IN ('debit', 'credit')),
    debits_must_not_exceed_credits BOOLEAN NOT NULL,
    credits_must_not_exceed_debits BOOLEAN NOT NULL,
    balance_limit                  NUMERIC(39, 0) NOT NULL,
    metadata                       JSONB NOT NULL,
    closed                         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                     BIGINT NOT NULL,
    debits_posted                  NUMERIC(39, 0) NOT NULL DEFAULT 0,
    credits_posted                 NUMERIC(39, 0) NOT NULL DEFAULT 0,
    debits_pending                 NUMERIC(39, 0) NOT NULL DEFAULT 0,
    credits_pending                NUMERIC(39, 0) NOT NULL DEFAULT 0
);

-- One row per id ever submitted: committed transactions, and failed ids (kind 'failed',
-- with the error replayed to any retry).
CREATE TABLE transactions (
    id           TEXT PRIMARY KEY,
    body_hash    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    error        TEXT,
    entries      TEXT,
    related      TEXT,
    reversed_by  TEXT,
    effective_at BIGINT,
    created_at   BIGINT,
    metadata     TEXT
);

-- The posted-entry log: account history and point-in-time balances.
CREATE TABLE entries (
    seq            BIGSERIAL PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    account_id     TEXT NOT NULL,
    direction      TEXT NOT NULL,
    amount         NUMERIC(39, 0) NOT NULL,
    asset          TEXT NOT NULL,
    effective_at   BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);
CREATE INDEX entries_by_account ON entries (account_id, seq);

CREATE TABLE holds (
    id         TEXT PRIMARY KEY,
    entries    TEXT NOT NULL,
    posted     TEXT NOT NULL,
    status     TEXT NOT NULL,
    expires_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;

-- Obol ledger on SQLite. Amounts are exact decimal integer text (never REAL);
-- times are microseconds since the Unix epoch.

CREATE TABLE assets (
    code  TEXT PRIMARY KEY,
    scale INTEGER NOT NULL
);

CREATE TABLE accounts (
    id                             TEXT PRIMARY KEY,
    asset                          TEXT NOT NULL,
    normal_balance                 TEXT NOT NULL CHECK (normal_balance IN ('debit', 'credit')),
    debits_must_not_exceed_credits INTEGER NOT NULL,
    credits_must_not_exceed_debits INTEGER NOT NULL,
    balance_limit                  TEXT NOT NULL,
    metadata                       TEXT NOT NULL,
    closed                         INTEGER NOT NULL DEFAULT 0,
    created_at                     INTEGER NOT NULL,
    debits_posted                  TEXT NOT NULL DEFAULT '0',
    credits_posted                 TEXT NOT NULL DEFAULT '0',
    debits_pending                 TEXT NOT NULL DEFAULT '0',
    credits_pending                TEXT NOT NULL DEFAULT '0'
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
    effective_at INTEGER,
    created_at   INTEGER,
    metadata     TEXT
);

-- The posted-entry log: account history and point-in-time balances.
CREATE TABLE entries (
    seq            INTEGER PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    account_id     TEXT NOT NULL,
    direction      TEXT NOT NULL,
    amount         TEXT NOT NULL,
    asset          TEXT NOT NULL,
    effective_at   INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX entries_by_account ON entries (account_id, seq);

CREATE TABLE holds (
    id         TEXT PRIMARY KEY,
    entries    TEXT NOT NULL,
    posted     TEXT NOT NULL,
    status     TEXT NOT NULL,
    expires_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX holds_due ON holds (expires_at) WHERE status = 'pending' AND expires_at IS NOT NULL;

-- Tenancy: every account has an owner (NULL: the host program; 'system': the engine's own
-- accounts; or a merchant's id), and payments and their events belong to a mode.

ALTER TABLE accounts ADD COLUMN owner TEXT;
-- The payment engine's accounts (provider clearing, fees, merchants' payment balances) were
-- told apart by their metadata; they become the system's.
UPDATE accounts SET owner = 'system'
 WHERE json_extract(metadata, '$.role') IN ('provider_clearing', 'fees', 'merchant');
-- Accounts the servers opened for a merchant carried its id in the metadata.
UPDATE accounts SET owner = json_extract(metadata, '$.merchant')
 WHERE owner IS NULL
   AND json_extract(metadata, '$.merchant') GLOB 'mer_[0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z][0-9A-HJKMNP-TV-Z]';

-- Everything from before modes existed went through the sandbox: test mode.
ALTER TABLE payments ADD COLUMN mode TEXT NOT NULL DEFAULT 'test';
ALTER TABLE payment_events ADD COLUMN mode TEXT NOT NULL DEFAULT 'test';

-- Sign-in attempts, reserved before the password is checked (a success takes its rows back);
-- rows older than the limits' window are deleted as new attempts arrive.
DROP TABLE login_failures;
CREATE TABLE login_attempts (
    attempt TEXT NOT NULL,
    key     TEXT NOT NULL,
    at      INTEGER NOT NULL
);
CREATE INDEX login_attempts_by_key ON login_attempts (key, at);
CREATE INDEX login_attempts_by_time ON login_attempts (at);
CREATE INDEX login_attempts_by_attempt ON login_attempts (attempt);

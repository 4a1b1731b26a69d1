-- Listing within one mode: a tenant lists its test or its live payments and events, newest
-- (or oldest) first, so the mode is part of the index, not a filter applied row by row to a
-- merchant's whole history. The merchant-only indexes go (each payment write maintains one
-- listing index, not two); a listing without a mode, which only the engine's own API asks
-- for, reads the merchant's rows of both modes and sorts them.
--
-- Building an index holds writes to its table until it is built. On a large database,
-- create both beforehand with CREATE INDEX CONCURRENTLY under the same names: this
-- migration then finds them and only drops the old ones.

CREATE INDEX IF NOT EXISTS payments_by_merchant_mode ON payments (merchant, mode, id);
DROP INDEX IF EXISTS payments_by_merchant;

CREATE INDEX IF NOT EXISTS payment_events_by_merchant_mode ON payment_events (merchant, mode, seq);
DROP INDEX IF EXISTS payment_events_by_merchant;

-- When each idempotency key was first claimed: a request that takes over a lapsed lease
-- names what it makes (a payment id) after that time, as its first attempt did. Keys claimed
-- before this column existed keep NULL.
ALTER TABLE idempotency_keys ADD COLUMN claimed_at BIGINT;

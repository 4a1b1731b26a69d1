-- Webhook endpoints belong to a mode and receive that mode's events only; those from before
-- modes existed received test-mode events (the sandbox was the only rail): test.
ALTER TABLE webhook_endpoints ADD COLUMN mode TEXT NOT NULL DEFAULT 'test';

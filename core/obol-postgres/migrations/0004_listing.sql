-- Listing: a merchant's payments newest first (filtered by status, customer and creation
-- time) and a merchant's events, without reading every body.

ALTER TABLE payments ADD COLUMN merchant TEXT NOT NULL DEFAULT '';
ALTER TABLE payments ADD COLUMN customer TEXT;
ALTER TABLE payments ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
UPDATE payments SET merchant = body::jsonb ->> 'merchant',
                    customer = body::jsonb ->> 'customer',
                    created_at = (body::jsonb ->> 'created_at')::bigint;
CREATE INDEX payments_by_merchant ON payments (merchant, id);

ALTER TABLE payment_events ADD COLUMN merchant TEXT NOT NULL DEFAULT '';
UPDATE payment_events SET merchant = body::jsonb -> 'payment' ->> 'merchant';
CREATE INDEX payment_events_by_merchant ON payment_events (merchant, seq);
CREATE INDEX payment_events_by_payment ON payment_events (payment_id, seq);

-- Webhook endpoints belong to a merchant and receive only its payments' events.
ALTER TABLE webhook_endpoints ADD COLUMN merchant TEXT NOT NULL DEFAULT '';

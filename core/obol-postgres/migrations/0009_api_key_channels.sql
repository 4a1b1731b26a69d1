-- API key changes are announced per schema, and a truncated table too (src/api_key_cache.rs):
-- stores sharing a database hear only their own keys, on channel obol_api_keys_ and 16 hex
-- digits of the MD5 of the table's schema; '*' means every key. Replaces 0008's trigger.
CREATE FUNCTION obol_api_keys_channel() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'obol_api_keys_' || left(md5(n.nspname), 16)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'api_keys'::regclass
$$;

CREATE OR REPLACE FUNCTION obol_api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    channel text := 'obol_api_keys_' || left(md5(TG_TABLE_SCHEMA), 16);
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify(channel, '*');
        RETURN NULL;
    END IF;
    PERFORM pg_notify(channel, OLD.hash);
    IF TG_OP = 'UPDATE' AND NEW.hash IS DISTINCT FROM OLD.hash THEN
        PERFORM pg_notify(channel, NEW.hash);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION obol_api_key_changed();

-- Every change to an API key is announced, however it was made, to the processes that keep
-- keys in memory (see src/api_key_cache.rs), so a revoked key stops working everywhere at
-- once: an updated or deleted key by its hash, a truncated table by '*'. Each schema has its
-- own channel (obol_api_keys_ and 16 hex digits of the schema name's MD5): stores sharing a
-- database hear only their own keys.
CREATE FUNCTION obol_api_keys_channel() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'obol_api_keys_' || left(md5(current_schema()), 16)
$$;

CREATE FUNCTION obol_api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION obol_api_key_changed();
CREATE TRIGGER api_keys_truncated AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION obol_api_key_changed();

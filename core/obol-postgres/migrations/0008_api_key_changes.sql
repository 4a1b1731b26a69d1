-- Every change to an API key is announced on channel obol_api_keys (the key's hash), however
-- it was made: processes that keep keys in memory forget it at once, so a revoked key stops
-- working everywhere (see src/api_key_cache.rs).
CREATE FUNCTION obol_api_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('obol_api_keys', OLD.hash);
    IF TG_OP = 'UPDATE' AND NEW.hash IS DISTINCT FROM OLD.hash THEN
        PERFORM pg_notify('obol_api_keys', NEW.hash);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION obol_api_key_changed();

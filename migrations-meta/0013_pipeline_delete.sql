-- A pipeline no job names may be deleted with its versions, published ones included: a published version is
-- still refused an UPDATE or a DELETE of its own, but goes when its pipeline does (the cascade's DELETE finds the
-- pipeline already gone).
CREATE OR REPLACE FUNCTION pipeline_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM pipelines WHERE id = OLD.pipeline_id) THEN
        RETURN OLD;
    END IF;
    IF OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'pipeline version % is published and immutable', OLD.version USING ERRCODE = 'check_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;

-- Task definitions, task services, pipeline templates and versioned pipelines as the workloads issue
-- describes them. Nothing used the v1 shapes of these tables, so they are replaced rather than altered.

DROP TABLE pipeline_versions, pipelines, pipeline_task_steps, pipeline_templates, task_services, task_definitions CASCADE;

-- A task definition: task_id + semantic version, immutable once created (only `active` changes). An org's own
-- (org_id set) or a system definition (org_id NULL, is_system), which every org sees and none may change.
CREATE TABLE task_definitions (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id          uuid REFERENCES organizations (id) ON DELETE CASCADE,
    is_system       boolean NOT NULL DEFAULT false,
    task_id         text NOT NULL CHECK (task_id ~ '^[a-z0-9][a-z0-9_.-]{0,127}$'),
    version         text NOT NULL CHECK (length(version) BETWEEN 5 AND 128),
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    interface_spec  jsonb NOT NULL,
    service_config  jsonb NOT NULL DEFAULT '{}'::jsonb,
    active          boolean NOT NULL DEFAULT true,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (is_system = (org_id IS NULL)),
    UNIQUE NULLS NOT DISTINCT (org_id, task_id, version)
);
CREATE INDEX task_definitions_task_idx ON task_definitions (task_id, org_id);

CREATE FUNCTION task_definitions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.org_id, NEW.is_system, NEW.task_id, NEW.version, NEW.metadata, NEW.interface_spec, NEW.service_config,
        NEW.created_by, NEW.created_at)
       IS DISTINCT FROM
       (OLD.id, OLD.org_id, OLD.is_system, OLD.task_id, OLD.version, OLD.metadata, OLD.interface_spec, OLD.service_config,
        OLD.created_by, OLD.created_at) THEN
        RAISE EXCEPTION 'task definitions are immutable; only active may change' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER task_definitions_immutable BEFORE UPDATE ON task_definitions
    FOR EACH ROW EXECUTE FUNCTION task_definitions_immutable();

-- Where an org runs a definition; the health checker keeps the last three columns.
CREATE TABLE task_services (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    task_definition_id    uuid NOT NULL REFERENCES task_definitions (id) ON DELETE CASCADE,
    service_url           text NOT NULL CHECK (service_url ~ '^https?://'),
    health_path           text NOT NULL DEFAULT '/health' CHECK (health_path ~ '^/'),
    health_status         text NOT NULL DEFAULT 'unknown' CHECK (health_status IN ('unknown', 'healthy', 'unhealthy')),
    consecutive_failures  integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    last_health_check     timestamptz,
    last_error            text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, task_definition_id, service_url)
);
CREATE INDEX task_services_definition_idx ON task_services (task_definition_id);

-- A template: a named, immutable set of steps an org starts pipelines from.
CREATE TABLE pipeline_templates (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text,
    created_by   uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

CREATE TABLE pipeline_task_steps (
    pipeline_template_id  uuid NOT NULL REFERENCES pipeline_templates (id) ON DELETE CASCADE,
    step_key              text NOT NULL CHECK (step_key ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    task_definition_id    uuid NOT NULL REFERENCES task_definitions (id) ON DELETE RESTRICT,
    depends_on            text[] NOT NULL DEFAULT '{}',
    position              integer NOT NULL CHECK (position >= 0),
    PRIMARY KEY (pipeline_template_id, step_key)
);
CREATE INDEX pipeline_task_steps_definition_idx ON pipeline_task_steps (task_definition_id);

CREATE TABLE pipelines (
    id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id                uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description           text,
    pipeline_template_id  uuid REFERENCES pipeline_templates (id) ON DELETE SET NULL,
    created_by            uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

-- A version's steps (with the definitions they resolved to) are checked on every write; once published the
-- version never changes.
CREATE TABLE pipeline_versions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    pipeline_id   uuid NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    version       integer NOT NULL CHECK (version > 0),
    definition    jsonb NOT NULL,
    checksum      bytea NOT NULL CHECK (length(checksum) = 32),
    published_at  timestamptz,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (pipeline_id, version)
);

CREATE FUNCTION pipeline_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.published_at IS NOT NULL THEN
        RAISE EXCEPTION 'pipeline version % is published and immutable', OLD.version USING ERRCODE = 'check_violation';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER pipeline_versions_immutable BEFORE UPDATE OR DELETE ON pipeline_versions
    FOR EACH ROW EXECUTE FUNCTION pipeline_versions_immutable();

ALTER TABLE jobs_meta ADD FOREIGN KEY (pipeline_version_id) REFERENCES pipeline_versions (id) ON DELETE SET NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON task_definitions, task_services, pipeline_templates, pipeline_task_steps, pipelines,
    pipeline_versions TO tessera_app;

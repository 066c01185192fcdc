-- Every digest ever pushed under a name, so a name's history can be listed
-- (GET /v1/components/{name}) while component_names keeps pointing at the
-- latest. Workflows stay pinned to the digest they started with; pushing a
-- new version changes only what new workflows start on.
CREATE TABLE component_versions (
    name         TEXT NOT NULL,
    digest       TEXT NOT NULL REFERENCES components (digest),
    pushed_at_ms BIGINT NOT NULL,
    PRIMARY KEY (name, digest)
);

INSERT INTO component_versions (name, digest, pushed_at_ms)
SELECT name, digest, updated_at_ms FROM component_names;

-- The metadata schema.
--
-- repositories ─┬─ resource_tags          key/value tags on the repository
--               ├─ repository_blobs ──── blobs        verified content, shared across repositories
--               ├─ manifests ─┬─ manifest_references  blobs and child manifests a manifest names
--               │             └─ tags                 tag → manifest, one per name
--               ├─ uploads                upload sessions in progress
--               └─ lifecycle_policies
-- settings                               named secrets shared by every node
--
-- Times are milliseconds since the Unix epoch.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

CREATE TABLE repositories (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    created_at      INTEGER NOT NULL,
    tag_mutability  TEXT NOT NULL,
    scan_on_push    INTEGER NOT NULL,
    encryption_type TEXT NOT NULL,
    kms_key         TEXT
) STRICT;

CREATE TABLE resource_tags (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    PRIMARY KEY (repository_id, key)
) STRICT;

CREATE TABLE blobs (
    digest         TEXT PRIMARY KEY,
    size           INTEGER NOT NULL,
    last_linked_at INTEGER NOT NULL
) STRICT;

CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest        TEXT NOT NULL REFERENCES blobs(digest),
    media_type    TEXT,
    PRIMARY KEY (repository_id, digest)
) STRICT, WITHOUT ROWID;
CREATE INDEX repository_blobs_by_digest ON repository_blobs(digest);

CREATE TABLE manifests (
    id             INTEGER PRIMARY KEY,
    repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest         TEXT NOT NULL,
    media_type     TEXT NOT NULL,
    artifact_type  TEXT,
    image_size     INTEGER NOT NULL,
    manifest       BLOB NOT NULL,
    manifest_size  INTEGER NOT NULL,
    subject        TEXT,
    annotations    TEXT,
    pushed_at      INTEGER NOT NULL,
    UNIQUE (repository_id, digest)
) STRICT;
CREATE INDEX manifests_by_repository ON manifests(repository_id);
CREATE INDEX manifests_by_subject ON manifests(repository_id, subject) WHERE subject IS NOT NULL;

CREATE TABLE manifest_references (
    manifest_id   INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    repository_id INTEGER NOT NULL,
    digest        TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('blob', 'manifest')),
    PRIMARY KEY (manifest_id, digest)
) STRICT, WITHOUT ROWID;
CREATE INDEX manifest_references_by_target ON manifest_references(digest, repository_id, kind);

CREATE TABLE tags (
    repository_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    tag           TEXT NOT NULL,
    manifest_id   INTEGER NOT NULL REFERENCES manifests(id) ON DELETE CASCADE,
    PRIMARY KEY (repository_id, tag)
) STRICT, WITHOUT ROWID;
CREATE INDEX tags_by_manifest ON tags(manifest_id);

CREATE TABLE uploads (
    id              TEXT PRIMARY KEY,
    repository_id   INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    size            INTEGER NOT NULL,
    part_count      INTEGER NOT NULL,
    last_part_size  INTEGER NOT NULL,
    small_part_seen INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX uploads_by_update ON uploads(updated_at);

CREATE TABLE lifecycle_policies (
    repository_id     INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    text              TEXT NOT NULL,
    last_evaluated_at INTEGER NOT NULL
) STRICT;

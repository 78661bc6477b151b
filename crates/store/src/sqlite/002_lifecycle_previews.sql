-- Lifecycle policy previews: the latest preview of each repository. `results` is a
-- JSON array of the images the previewed policy would expire.

CREATE TABLE lifecycle_previews (
    repository_id INTEGER PRIMARY KEY REFERENCES repositories(id) ON DELETE CASCADE,
    text          TEXT NOT NULL,
    status        TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    results       TEXT NOT NULL
) STRICT;

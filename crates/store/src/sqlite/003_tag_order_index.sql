-- Listing an image's tags in order reads them straight from this index instead of
-- sorting them for every image of a page.

CREATE INDEX tags_by_manifest_and_tag ON tags(manifest_id, tag);
DROP INDEX tags_by_manifest;

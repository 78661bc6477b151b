//! Queries on blobs, manifests and tags.

use rusqlite::{params, Connection, OptionalExtension, Row};

use berth_types::{Digest, RepositoryName, Tag, Timestamp};

use super::{digest_column, repository_id, tag_column, to_i64};
use crate::error::MetaError;
use crate::model::{
    Cursor, ImageId, ImageSummary, LinkedBlob, NewImage, Page, PutImageOutcome, ReferenceKind,
    Referrer, StoredManifest, TagFilter, TagMutability,
};

pub fn link_blob(
    connection: &Connection,
    name: &RepositoryName,
    digest: &Digest,
    size: u64,
    media_type: Option<&str>,
    now: Timestamp,
) -> Result<bool, MetaError> {
    let id = repository_id(connection, name)?;
    connection.execute(
        "INSERT INTO blobs (digest, size, last_linked_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (digest) DO UPDATE SET last_linked_at = excluded.last_linked_at",
        params![digest.as_str(), to_i64(size), now.0],
    )?;
    let inserted = connection.execute(
        "INSERT INTO repository_blobs (repository_id, digest, media_type) VALUES (?1, ?2, ?3)
         ON CONFLICT (repository_id, digest) DO NOTHING",
        params![id, digest.as_str(), media_type],
    )?;
    if inserted == 0 && media_type.is_some() {
        connection.execute(
            "UPDATE repository_blobs SET media_type = ?3 WHERE repository_id = ?1 AND digest = ?2",
            params![id, digest.as_str(), media_type],
        )?;
    }
    Ok(inserted == 0)
}

pub fn linked_blob(
    connection: &Connection,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<Option<LinkedBlob>, MetaError> {
    let id = repository_id(connection, name)?;
    let blob = connection
        .prepare_cached(
            "SELECT b.size, rb.media_type,
                    EXISTS (SELECT 1 FROM manifest_references r
                            WHERE r.digest = rb.digest AND r.repository_id = rb.repository_id AND r.kind = 'blob')
             FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
             WHERE rb.repository_id = ?1 AND rb.digest = ?2",
        )?
        .query_row(params![id, digest.as_str()], |row| {
            Ok(LinkedBlob {
                digest: digest.clone(),
                size: row.get::<_, i64>(0)? as u64,
                media_type: row.get(1)?,
                referenced: row.get(2)?,
            })
        })
        .optional()?;
    Ok(blob)
}

pub fn blob_size(connection: &Connection, digest: &Digest) -> Result<Option<u64>, MetaError> {
    let size: Option<i64> = connection
        .prepare_cached("SELECT size FROM blobs WHERE digest = ?1")?
        .query_row([digest.as_str()], |row| row.get(0))
        .optional()?;
    Ok(size.map(|size| size as u64))
}

pub fn unlink_blob(
    connection: &Connection,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<bool, MetaError> {
    let id = repository_id(connection, name)?;
    let referenced = connection
        .prepare_cached(
            "SELECT 1 FROM manifest_references WHERE repository_id = ?1 AND digest = ?2 AND kind = 'blob'",
        )?
        .exists(params![id, digest.as_str()])?;
    if referenced {
        return Err(MetaError::BlobReferenced(digest.clone()));
    }
    let deleted = connection.execute(
        "DELETE FROM repository_blobs WHERE repository_id = ?1 AND digest = ?2",
        params![id, digest.as_str()],
    )?;
    Ok(deleted > 0)
}

fn mutability(connection: &Connection, repository: i64) -> Result<TagMutability, MetaError> {
    let text: String = connection.query_row(
        "SELECT tag_mutability FROM repositories WHERE id = ?1",
        [repository],
        |row| row.get(0),
    )?;
    Ok(TagMutability::parse(&text).unwrap_or(TagMutability::Mutable))
}

fn missing_references(
    connection: &Connection,
    repository: i64,
    image: &NewImage,
    kind: ReferenceKind,
) -> Result<Vec<Digest>, MetaError> {
    let sql = match kind {
        ReferenceKind::Blob => {
            "SELECT 1 FROM repository_blobs WHERE repository_id = ?1 AND digest = ?2"
        }
        ReferenceKind::Manifest => {
            "SELECT 1 FROM manifests WHERE repository_id = ?1 AND digest = ?2"
        }
    };
    let mut statement = connection.prepare_cached(sql)?;
    let mut missing = Vec::new();
    for (digest, _) in image.references.iter().filter(|(_, k)| *k == kind) {
        if !statement.exists(params![repository, digest.as_str()])? && !missing.contains(digest) {
            missing.push(digest.clone());
        }
    }
    Ok(missing)
}

fn manifest_id(
    connection: &Connection,
    repository: i64,
    digest: &Digest,
) -> Result<Option<i64>, MetaError> {
    Ok(connection
        .prepare_cached("SELECT id FROM manifests WHERE repository_id = ?1 AND digest = ?2")?
        .query_row(params![repository, digest.as_str()], |row| row.get(0))
        .optional()?)
}

fn insert_manifest(
    connection: &Connection,
    repository: i64,
    image: &NewImage,
) -> Result<i64, MetaError> {
    connection.execute(
        "INSERT INTO manifests (repository_id, digest, media_type, artifact_type, image_size, manifest,
                                manifest_size, subject, annotations, pushed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            repository,
            image.digest.as_str(),
            image.media_type,
            image.artifact_type,
            to_i64(image.image_size),
            image.manifest,
            image.manifest.len() as i64,
            image.subject.as_ref().map(Digest::as_str),
            image.annotations,
            image.pushed_at.0,
        ],
    )?;
    let id = connection.last_insert_rowid();
    let mut statement = connection.prepare_cached(
        "INSERT INTO manifest_references (manifest_id, repository_id, digest, kind) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
    )?;
    for (digest, kind) in &image.references {
        let kind = match kind {
            ReferenceKind::Blob => "blob",
            ReferenceKind::Manifest => "manifest",
        };
        statement.execute(params![id, repository, digest.as_str(), kind])?;
    }
    Ok(id)
}

pub fn put_image(
    connection: &Connection,
    name: &RepositoryName,
    image: &NewImage,
    tag: Option<&Tag>,
) -> Result<PutImageOutcome, MetaError> {
    let repository = repository_id(connection, name)?;
    let missing_blobs = missing_references(connection, repository, image, ReferenceKind::Blob)?;
    if !missing_blobs.is_empty() {
        return Err(MetaError::BlobsNotFound(missing_blobs));
    }
    let missing_manifests =
        missing_references(connection, repository, image, ReferenceKind::Manifest)?;
    if !missing_manifests.is_empty() {
        return Err(MetaError::ManifestsNotFound(missing_manifests));
    }

    let existing = manifest_id(connection, repository, &image.digest)?;
    let current = match tag {
        Some(tag) => tag_target(connection, repository, tag)?,
        None => None,
    };
    if let (Some(tag), Some((_, current_digest))) = (tag, &current) {
        if *current_digest == image.digest {
            return Err(MetaError::ImageAlreadyExists {
                digest: image.digest.clone(),
                tag: tag.to_string(),
            });
        }
        if mutability(connection, repository)? == TagMutability::Immutable {
            return Err(MetaError::ImageTagImmutable {
                tag: tag.to_string(),
                existing: current_digest.clone(),
            });
        }
    }
    if tag.is_none() && existing.is_some() {
        return Err(MetaError::ImageAlreadyExists {
            digest: image.digest.clone(),
            tag: String::new(),
        });
    }

    let manifest = match existing {
        Some(id) => id,
        None => insert_manifest(connection, repository, image)?,
    };
    if let Some(tag) = tag {
        connection.execute(
            "INSERT INTO tags (repository_id, tag, manifest_id) VALUES (?1, ?2, ?3)
             ON CONFLICT (repository_id, tag) DO UPDATE SET manifest_id = excluded.manifest_id",
            params![repository, tag.as_str(), manifest],
        )?;
    }
    Ok(PutImageOutcome {
        created: existing.is_none(),
        tag_moved_from: current.map(|(_, digest)| digest),
    })
}

fn tag_target(
    connection: &Connection,
    repository: i64,
    tag: &Tag,
) -> Result<Option<(i64, Digest)>, MetaError> {
    Ok(connection
        .prepare_cached(
            "SELECT m.id, m.digest FROM tags t JOIN manifests m ON m.id = t.manifest_id
             WHERE t.repository_id = ?1 AND t.tag = ?2",
        )?
        .query_row(params![repository, tag.as_str()], |row| {
            Ok((row.get(0)?, digest_column(row, 1)?))
        })
        .optional()?)
}

fn stored_manifest(row: &Row) -> rusqlite::Result<StoredManifest> {
    Ok(StoredManifest {
        digest: digest_column(row, 0)?,
        media_type: row.get(1)?,
        manifest: row.get(2)?,
    })
}

pub fn manifest_by_digest(
    connection: &Connection,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<Option<StoredManifest>, MetaError> {
    let repository = repository_id(connection, name)?;
    Ok(connection
        .prepare_cached("SELECT digest, media_type, manifest FROM manifests WHERE repository_id = ?1 AND digest = ?2")?
        .query_row(params![repository, digest.as_str()], stored_manifest)
        .optional()?)
}

pub fn manifest_by_tag(
    connection: &Connection,
    name: &RepositoryName,
    tag: &Tag,
) -> Result<Option<StoredManifest>, MetaError> {
    let repository = repository_id(connection, name)?;
    Ok(connection
        .prepare_cached(
            "SELECT m.digest, m.media_type, m.manifest FROM tags t JOIN manifests m ON m.id = t.manifest_id
             WHERE t.repository_id = ?1 AND t.tag = ?2",
        )?
        .query_row(params![repository, tag.as_str()], stored_manifest)
        .optional()?)
}

pub fn digest_for_tag(
    connection: &Connection,
    name: &RepositoryName,
    tag: &Tag,
) -> Result<Option<Digest>, MetaError> {
    let repository = repository_id(connection, name)?;
    Ok(tag_target(connection, repository, tag)?.map(|(_, digest)| digest))
}

const SUMMARY_COLUMNS: &str = "m.id, m.digest, m.media_type, m.artifact_type, m.image_size, m.manifest_size, m.pushed_at,
     (SELECT group_concat(tag, ' ') FROM (SELECT tag FROM tags WHERE manifest_id = m.id ORDER BY tag))";

fn summary_from_row(row: &Row) -> rusqlite::Result<(i64, ImageSummary)> {
    let tags: Option<String> = row.get(7)?;
    let tags = match tags {
        Some(text) => text
            .split(' ')
            .map(tag_column)
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let summary = ImageSummary {
        digest: digest_column(row, 1)?,
        tags,
        media_type: row.get(2)?,
        artifact_type: row.get(3)?,
        image_size: row.get::<_, i64>(4)? as u64,
        manifest_size: row.get::<_, i64>(5)? as u64,
        pushed_at: Timestamp(row.get(6)?),
    };
    Ok((row.get(0)?, summary))
}

pub fn image_summary(
    connection: &Connection,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<Option<ImageSummary>, MetaError> {
    let repository = repository_id(connection, name)?;
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM manifests m WHERE m.repository_id = ?1 AND m.digest = ?2"
    );
    Ok(connection
        .prepare_cached(&sql)?
        .query_row(params![repository, digest.as_str()], summary_from_row)
        .optional()?
        .map(|(_, summary)| summary))
}

fn tag_filter_sql(filter: TagFilter) -> &'static str {
    match filter {
        TagFilter::Any => "",
        TagFilter::Tagged => "AND EXISTS (SELECT 1 FROM tags WHERE manifest_id = m.id)",
        TagFilter::Untagged => "AND NOT EXISTS (SELECT 1 FROM tags WHERE manifest_id = m.id)",
    }
}

pub fn list_images(
    connection: &Connection,
    name: &RepositoryName,
    filter: TagFilter,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page<ImageSummary>, MetaError> {
    let repository = repository_id(connection, name)?;
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM manifests m WHERE m.repository_id = ?1 AND m.id > ?2 {}
         ORDER BY m.id LIMIT ?3",
        tag_filter_sql(filter)
    );
    let after_id = after.map_or(0, |cursor| cursor.after_id);
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement
        .query_map(
            params![repository, after_id, limit as i64 + 1],
            summary_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(rows, limit, |(id, _)| Cursor {
        after_id: *id,
        after_text: String::new(),
    }))
}

pub fn list_image_ids(
    connection: &Connection,
    name: &RepositoryName,
    filter: TagFilter,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<Page<ImageId>, MetaError> {
    let repository = repository_id(connection, name)?;
    let filter_sql = match filter {
        TagFilter::Any => "",
        TagFilter::Tagged => "AND t.tag IS NOT NULL",
        TagFilter::Untagged => "AND t.tag IS NULL",
    };
    // Rows are ordered by (image, tag), which the index on tags(manifest_id, tag)
    // yields without a sort. An untagged image has one row with a NULL tag, which sorts
    // first as the empty tag in the cursor comparison does.
    let sql = format!(
        "SELECT m.id, m.digest, t.tag FROM manifests m LEFT JOIN tags t ON t.manifest_id = m.id
         WHERE m.repository_id = ?1 AND m.id >= ?2 AND (m.id > ?2 OR coalesce(t.tag, '') > ?3) {filter_sql}
         ORDER BY m.id, t.tag LIMIT ?4"
    );
    let (after_id, after_text) = after.map_or((0, ""), |cursor| {
        (cursor.after_id, cursor.after_text.as_str())
    });
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement
        .query_map(
            params![repository, after_id, after_text, limit as i64 + 1],
            |row| {
                let tag: Option<String> = row.get(2)?;
                let tag = tag.as_deref().map(tag_column).transpose()?;
                Ok((
                    row.get::<_, i64>(0)?,
                    ImageId {
                        digest: digest_column(row, 1)?,
                        tag,
                    },
                ))
            },
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(paginate(rows, limit, |(id, image)| Cursor {
        after_id: *id,
        after_text: image
            .tag
            .as_ref()
            .map(|tag| tag.to_string())
            .unwrap_or_default(),
    }))
}

/// Cuts `rows` (fetched with one extra row) to `limit` and builds the next cursor.
fn paginate<T>(
    mut rows: Vec<(i64, T)>,
    limit: usize,
    cursor_of: impl Fn(&(i64, T)) -> Cursor,
) -> Page<T> {
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(cursor_of)
    } else {
        None
    };
    Page {
        items: rows.into_iter().map(|(_, item)| item).collect(),
        next,
    }
}

pub fn list_tags(
    connection: &Connection,
    name: &RepositoryName,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Tag>, MetaError> {
    let repository = repository_id(connection, name)?;
    let mut statement = connection.prepare_cached(
        "SELECT tag FROM tags WHERE repository_id = ?1 AND tag > ?2 ORDER BY tag LIMIT ?3",
    )?;
    let rows = statement.query_map(
        params![repository, after.unwrap_or(""), limit as i64],
        |row| {
            let text: String = row.get(0)?;
            tag_column(&text)
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete_tag(
    connection: &Connection,
    name: &RepositoryName,
    tag: &Tag,
) -> Result<Option<Digest>, MetaError> {
    let repository = repository_id(connection, name)?;
    let target = tag_target(connection, repository, tag)?;
    connection.execute(
        "DELETE FROM tags WHERE repository_id = ?1 AND tag = ?2",
        params![repository, tag.as_str()],
    )?;
    Ok(target.map(|(_, digest)| digest))
}

pub fn delete_image(
    connection: &Connection,
    name: &RepositoryName,
    digest: &Digest,
) -> Result<Option<Vec<Tag>>, MetaError> {
    let repository = repository_id(connection, name)?;
    let Some(id) = manifest_id(connection, repository, digest)? else {
        return Ok(None);
    };
    let referenced = connection
        .prepare_cached(
            "SELECT 1 FROM manifest_references WHERE repository_id = ?1 AND digest = ?2 AND kind = 'manifest'",
        )?
        .exists(params![repository, digest.as_str()])?;
    if referenced {
        return Err(MetaError::ImageReferencedByIndex(digest.clone()));
    }
    let mut statement =
        connection.prepare_cached("SELECT tag FROM tags WHERE manifest_id = ?1 ORDER BY tag")?;
    let tags = statement
        .query_map([id], |row| tag_column(&row.get::<_, String>(0)?))?
        .collect::<Result<Vec<_>, _>>()?;
    connection.execute("DELETE FROM manifests WHERE id = ?1", [id])?;
    Ok(Some(tags))
}

pub fn referrers(
    connection: &Connection,
    name: &RepositoryName,
    subject: &Digest,
) -> Result<Vec<Referrer>, MetaError> {
    let repository = repository_id(connection, name)?;
    let mut statement = connection.prepare_cached(
        "SELECT digest, media_type, artifact_type, manifest_size, annotations FROM manifests
         WHERE repository_id = ?1 AND subject = ?2 ORDER BY id",
    )?;
    let rows = statement.query_map(params![repository, subject.as_str()], |row| {
        Ok(Referrer {
            digest: digest_column(row, 0)?,
            media_type: row.get(1)?,
            artifact_type: row.get(2)?,
            size: row.get::<_, i64>(3)? as u64,
            annotations: row.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn index_children(
    connection: &Connection,
    name: &RepositoryName,
) -> Result<Vec<Digest>, MetaError> {
    let repository = repository_id(connection, name)?;
    let mut statement = connection.prepare_cached(
        "SELECT DISTINCT digest FROM manifest_references WHERE repository_id = ?1 AND kind = 'manifest'",
    )?;
    let rows = statement.query_map([repository], |row| digest_column(row, 0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn unreferenced_blobs(
    connection: &Connection,
    before: Timestamp,
    limit: usize,
) -> Result<Vec<(Digest, u64)>, MetaError> {
    let mut statement = connection.prepare_cached(
        "SELECT b.digest, b.size FROM blobs b
         WHERE b.last_linked_at < ?1
           AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = b.digest AND r.kind = 'blob')
         LIMIT ?2",
    )?;
    let rows = statement.query_map(params![before.0, limit as i64], |row| {
        Ok((digest_column(row, 0)?, row.get::<_, i64>(1)? as u64))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn forget_blob_if_unreferenced(
    connection: &Connection,
    digest: &Digest,
    before: Timestamp,
) -> Result<bool, MetaError> {
    let still_garbage = connection
        .prepare_cached(
            "SELECT 1 FROM blobs b WHERE b.digest = ?1 AND b.last_linked_at < ?2
               AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.digest = b.digest AND r.kind = 'blob')",
        )?
        .exists(params![digest.as_str(), before.0])?;
    if !still_garbage {
        return Ok(false);
    }
    connection.execute(
        "DELETE FROM repository_blobs WHERE digest = ?1",
        [digest.as_str()],
    )?;
    connection.execute("DELETE FROM blobs WHERE digest = ?1", [digest.as_str()])?;
    Ok(true)
}

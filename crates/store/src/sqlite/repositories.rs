//! Queries on repositories, their resource tags, lifecycle policies and settings.

use rusqlite::{params, Connection, OptionalExtension, Row};

use berth_types::{RepositoryName, Timestamp};

use super::repository_id;
use crate::error::MetaError;
use crate::model::{Encryption, LifecyclePolicyRecord, Repository, ResourceTag, TagMutability};

/// The maximum number of resource tags on a repository, as in ECR.
pub const MAX_RESOURCE_TAGS: usize = 50;

const REPOSITORY_COLUMNS: &str =
    "name, created_at, tag_mutability, scan_on_push, encryption_type, kms_key";

pub fn secret(connection: &Connection, name: &str) -> Result<[u8; 32], MetaError> {
    let existing: Option<Vec<u8>> = connection
        .query_row(
            "SELECT value FROM settings WHERE name = ?1",
            [name],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(bytes) = existing {
        return bytes
            .try_into()
            .map_err(|_| MetaError::Backend(format!("setting '{name}' is not 32 bytes long")));
    }
    let fresh: [u8; 32] = rand::random();
    connection.execute(
        "INSERT INTO settings (name, value) VALUES (?1, ?2)",
        params![name, &fresh[..]],
    )?;
    Ok(fresh)
}

fn repository_from_row(row: &Row) -> rusqlite::Result<Repository> {
    let name: String = row.get(0)?;
    let mutability: String = row.get(2)?;
    Ok(Repository {
        name: RepositoryName::parse(&name).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })?,
        created_at: Timestamp(row.get(1)?),
        tag_mutability: TagMutability::parse(&mutability).unwrap_or(TagMutability::Mutable),
        scan_on_push: row.get(3)?,
        encryption: Encryption {
            encryption_type: row.get(4)?,
            kms_key: row.get(5)?,
        },
    })
}

pub fn create(
    connection: &Connection,
    repository: &Repository,
    tags: &[ResourceTag],
) -> Result<(), MetaError> {
    if tags.len() > MAX_RESOURCE_TAGS {
        return Err(MetaError::TooManyTags(tags.len()));
    }
    let inserted = connection.execute(
        "INSERT INTO repositories (name, created_at, tag_mutability, scan_on_push, encryption_type, kms_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (name) DO NOTHING",
        params![
            repository.name.as_str(),
            repository.created_at.0,
            repository.tag_mutability.as_str(),
            repository.scan_on_push,
            repository.encryption.encryption_type,
            repository.encryption.kms_key,
        ],
    )?;
    if inserted == 0 {
        return Err(MetaError::RepositoryAlreadyExists(
            repository.name.to_string(),
        ));
    }
    put_tags(connection, &repository.name, tags)
}

pub fn get(connection: &Connection, name: &RepositoryName) -> Result<Repository, MetaError> {
    let sql = format!("SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name = ?1");
    connection
        .prepare_cached(&sql)?
        .query_row([name.as_str()], repository_from_row)
        .optional()?
        .ok_or_else(|| MetaError::RepositoryNotFound(name.to_string()))
}

pub fn list(
    connection: &Connection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Repository>, MetaError> {
    let sql = format!(
        "SELECT {REPOSITORY_COLUMNS} FROM repositories WHERE name > ?1 ORDER BY name LIMIT ?2"
    );
    let mut statement = connection.prepare_cached(&sql)?;
    let rows = statement.query_map(
        params![after.unwrap_or(""), limit as i64],
        repository_from_row,
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn delete(
    connection: &Connection,
    name: &RepositoryName,
    force: bool,
) -> Result<(Repository, Vec<String>), MetaError> {
    let repository = get(connection, name)?;
    let id = repository_id(connection, name)?;
    if !force && count_images(connection, name)? > 0 {
        return Err(MetaError::RepositoryNotEmpty(name.to_string()));
    }
    let mut statement =
        connection.prepare_cached("SELECT id FROM uploads WHERE repository_id = ?1")?;
    let uploads = statement
        .query_map([id], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    connection.execute("DELETE FROM repositories WHERE id = ?1", [id])?;
    Ok((repository, uploads))
}

pub fn set_mutability(
    connection: &Connection,
    name: &RepositoryName,
    mutability: TagMutability,
) -> Result<(), MetaError> {
    let id = repository_id(connection, name)?;
    connection.execute(
        "UPDATE repositories SET tag_mutability = ?1 WHERE id = ?2",
        params![mutability.as_str(), id],
    )?;
    Ok(())
}

pub fn set_scan_on_push(
    connection: &Connection,
    name: &RepositoryName,
    scan_on_push: bool,
) -> Result<(), MetaError> {
    let id = repository_id(connection, name)?;
    connection.execute(
        "UPDATE repositories SET scan_on_push = ?1 WHERE id = ?2",
        params![scan_on_push, id],
    )?;
    Ok(())
}

pub fn count_images(connection: &Connection, name: &RepositoryName) -> Result<u64, MetaError> {
    let id = repository_id(connection, name)?;
    let count: i64 = connection
        .prepare_cached("SELECT count(*) FROM manifests WHERE repository_id = ?1")?
        .query_row([id], |row| row.get(0))?;
    Ok(count as u64)
}

pub fn tags(connection: &Connection, name: &RepositoryName) -> Result<Vec<ResourceTag>, MetaError> {
    let id = repository_id(connection, name)?;
    let mut statement = connection.prepare_cached(
        "SELECT key, value FROM resource_tags WHERE repository_id = ?1 ORDER BY key",
    )?;
    let rows = statement.query_map([id], |row| {
        Ok(ResourceTag {
            key: row.get(0)?,
            value: row.get(1)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn put_tags(
    connection: &Connection,
    name: &RepositoryName,
    tags: &[ResourceTag],
) -> Result<(), MetaError> {
    let id = repository_id(connection, name)?;
    let mut statement = connection.prepare_cached(
        "INSERT INTO resource_tags (repository_id, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (repository_id, key) DO UPDATE SET value = excluded.value",
    )?;
    for tag in tags {
        statement.execute(params![id, tag.key, tag.value])?;
    }
    let total: i64 = connection.query_row(
        "SELECT count(*) FROM resource_tags WHERE repository_id = ?1",
        [id],
        |row| row.get(0),
    )?;
    if total as usize > MAX_RESOURCE_TAGS {
        // The caller's transaction rolls back, so no tag of this call is kept.
        return Err(MetaError::TooManyTags(total as usize));
    }
    Ok(())
}

pub fn remove_tags(
    connection: &Connection,
    name: &RepositoryName,
    keys: &[String],
) -> Result<(), MetaError> {
    let id = repository_id(connection, name)?;
    let mut statement = connection
        .prepare_cached("DELETE FROM resource_tags WHERE repository_id = ?1 AND key = ?2")?;
    for key in keys {
        statement.execute(params![id, key])?;
    }
    Ok(())
}

pub fn lifecycle_policy(
    connection: &Connection,
    name: &RepositoryName,
) -> Result<Option<LifecyclePolicyRecord>, MetaError> {
    let id = repository_id(connection, name)?;
    let record = connection
        .prepare_cached(
            "SELECT text, last_evaluated_at FROM lifecycle_policies WHERE repository_id = ?1",
        )?
        .query_row([id], |row| {
            Ok(LifecyclePolicyRecord {
                text: row.get(0)?,
                last_evaluated_at: Timestamp(row.get(1)?),
            })
        })
        .optional()?;
    Ok(record)
}

pub fn put_lifecycle_policy(
    connection: &Connection,
    name: &RepositoryName,
    text: &str,
) -> Result<(), MetaError> {
    let id = repository_id(connection, name)?;
    connection.execute(
        "INSERT INTO lifecycle_policies (repository_id, text, last_evaluated_at) VALUES (?1, ?2, 0)
         ON CONFLICT (repository_id) DO UPDATE SET text = excluded.text",
        params![id, text],
    )?;
    Ok(())
}

pub fn delete_lifecycle_policy(
    connection: &Connection,
    name: &RepositoryName,
) -> Result<Option<LifecyclePolicyRecord>, MetaError> {
    let existing = lifecycle_policy(connection, name)?;
    let id = repository_id(connection, name)?;
    connection.execute(
        "DELETE FROM lifecycle_policies WHERE repository_id = ?1",
        [id],
    )?;
    Ok(existing)
}

pub fn set_lifecycle_evaluated(
    connection: &Connection,
    name: &RepositoryName,
    at: Timestamp,
) -> Result<(), MetaError> {
    let id = repository_id(connection, name)?;
    connection.execute(
        "UPDATE lifecycle_policies SET last_evaluated_at = ?1 WHERE repository_id = ?2",
        params![at.0, id],
    )?;
    Ok(())
}

pub fn lifecycle_repositories(
    connection: &Connection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<RepositoryName>, MetaError> {
    let mut statement = connection.prepare_cached(
        "SELECT r.name FROM lifecycle_policies p JOIN repositories r ON r.id = p.repository_id
         WHERE r.name > ?1 ORDER BY r.name LIMIT ?2",
    )?;
    let rows = statement.query_map(params![after.unwrap_or(""), limit as i64], |row| {
        let name: String = row.get(0)?;
        RepositoryName::parse(&name).map_err(|error| {
            rusqlite::Error::FromSqlConversionFailure(
                0,
                rusqlite::types::Type::Text,
                Box::new(error),
            )
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn begin_preview(
    connection: &Connection,
    name: &RepositoryName,
    text: &str,
    now: Timestamp,
) -> Result<bool, MetaError> {
    let id = repository_id(connection, name)?;
    let running = connection
        .prepare_cached(
            "SELECT 1 FROM lifecycle_previews WHERE repository_id = ?1 AND status = 'IN_PROGRESS'",
        )?
        .exists([id])?;
    if running {
        return Ok(false);
    }
    connection.execute(
        "INSERT INTO lifecycle_previews (repository_id, text, status, started_at, results)
         VALUES (?1, ?2, 'IN_PROGRESS', ?3, '[]')
         ON CONFLICT (repository_id) DO UPDATE SET text = excluded.text, status = excluded.status,
             started_at = excluded.started_at, results = excluded.results",
        params![id, text, now.0],
    )?;
    Ok(true)
}

pub fn finish_preview(
    connection: &Connection,
    name: &RepositoryName,
    started_at: Timestamp,
    status: &str,
    results: &str,
) -> Result<(), MetaError> {
    let id = repository_id(connection, name)?;
    connection.execute(
        "UPDATE lifecycle_previews SET status = ?1, results = ?2 WHERE repository_id = ?3 AND started_at = ?4",
        params![status, results, id, started_at.0],
    )?;
    Ok(())
}

pub fn preview(
    connection: &Connection,
    name: &RepositoryName,
) -> Result<Option<crate::model::LifecyclePreviewRecord>, MetaError> {
    let id = repository_id(connection, name)?;
    let record = connection
        .prepare_cached("SELECT text, status, started_at, results FROM lifecycle_previews WHERE repository_id = ?1")?
        .query_row([id], |row| {
            Ok(crate::model::LifecyclePreviewRecord {
                text: row.get(0)?,
                status: row.get(1)?,
                started_at: Timestamp(row.get(2)?),
                results: row.get(3)?,
            })
        })
        .optional()?;
    Ok(record)
}

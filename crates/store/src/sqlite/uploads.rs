//! Queries on upload sessions.

use rusqlite::{params, Connection, OptionalExtension};

use berth_types::{RepositoryName, Timestamp};

use super::{repository_id, to_i64};
use crate::error::MetaError;
use crate::model::Upload;

pub fn create(
    connection: &Connection,
    id: &str,
    name: &RepositoryName,
    now: Timestamp,
) -> Result<(), MetaError> {
    let repository = repository_id(connection, name)?;
    connection.execute(
        "INSERT INTO uploads (id, repository_id, size, part_count, last_part_size, small_part_seen, created_at, updated_at)
         VALUES (?1, ?2, 0, 0, 0, 0, ?3, ?3)",
        params![id, repository, now.0],
    )?;
    Ok(())
}

pub fn get(connection: &Connection, id: &str) -> Result<Option<Upload>, MetaError> {
    let upload = connection
        .prepare_cached(
            "SELECT u.id, r.name, u.size, u.part_count, u.last_part_size, u.small_part_seen, u.created_at, u.updated_at
             FROM uploads u JOIN repositories r ON r.id = u.repository_id WHERE u.id = ?1",
        )?
        .query_row([id], |row| {
            let name: String = row.get(1)?;
            Ok(Upload {
                id: row.get(0)?,
                repository: RepositoryName::parse(&name).map_err(|error| {
                    rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(error))
                })?,
                size: row.get::<_, i64>(2)? as u64,
                part_count: row.get(3)?,
                last_part_size: row.get::<_, i64>(4)? as u64,
                small_part_seen: row.get(5)?,
                created_at: Timestamp(row.get(6)?),
                updated_at: Timestamp(row.get(7)?),
            })
        })
        .optional()?;
    Ok(upload)
}

pub fn record_part(
    connection: &Connection,
    id: &str,
    new_size: u64,
    part_size: u64,
    small_part_size: u64,
    now: Timestamp,
) -> Result<(), MetaError> {
    // The previous part stops being the last one, so it must have met the minimum.
    let updated = connection.execute(
        "UPDATE uploads SET
             small_part_seen = small_part_seen OR (part_count > 0 AND last_part_size < ?3),
             part_count = part_count + 1, last_part_size = ?2, size = ?1, updated_at = ?4
         WHERE id = ?5",
        params![
            to_i64(new_size),
            to_i64(part_size),
            to_i64(small_part_size),
            now.0,
            id
        ],
    )?;
    if updated == 0 {
        return Err(MetaError::UploadNotFound(id.to_owned()));
    }
    Ok(())
}

pub fn delete(connection: &Connection, id: &str) -> Result<(), MetaError> {
    connection.execute("DELETE FROM uploads WHERE id = ?1", [id])?;
    Ok(())
}

pub fn stale(
    connection: &Connection,
    before: Timestamp,
    limit: usize,
) -> Result<Vec<String>, MetaError> {
    let mut statement = connection.prepare_cached(
        "SELECT id FROM uploads WHERE updated_at < ?1 ORDER BY updated_at LIMIT ?2",
    )?;
    let rows = statement.query_map(params![before.0, limit as i64], |row| row.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

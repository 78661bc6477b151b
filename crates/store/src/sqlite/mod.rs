//! The SQLite metadata store: one file in WAL mode, one writer connection and a pool of
//! readers, each call run on tokio's blocking pool.

mod images;
mod repositories;
mod store;
mod uploads;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction};

use berth_types::RepositoryName;

use crate::error::MetaError;

/// Schema migrations, applied in order; `PRAGMA user_version` counts the applied ones.
const MIGRATIONS: &[&str] = &[
    include_str!("001_initial.sql"),
    include_str!("002_lifecycle_previews.sql"),
    include_str!("003_tag_order_index.sql"),
];

/// Readers kept open between calls; more are opened under load and closed afterwards.
const IDLE_READERS: usize = 8;

/// Metadata in a SQLite database file.
#[derive(Clone)]
pub struct SqliteMetaStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl SqliteMetaStore {
    /// Opens or creates the database at `path` and applies pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MetaError> {
        let path = path.as_ref().to_owned();
        let mut writer = open_connection(&path, false)?;
        migrate(&mut writer)?;
        let inner = Inner {
            path,
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        };
        Ok(SqliteMetaStore {
            inner: Arc::new(inner),
        })
    }

    /// Runs a short read, `work`, on a read-only connection on the calling thread. In WAL
    /// mode a read never waits for the writer, and a page of rows takes tens of
    /// microseconds, less than a hop to the blocking pool costs.
    pub(crate) async fn read<T, F>(&self, work: F) -> Result<T, MetaError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, MetaError> + Send + 'static,
    {
        read_with_pooled_connection(&self.inner, work)
    }

    /// Runs a read that may scan many rows on tokio's blocking pool, so it never holds
    /// up a request thread.
    pub(crate) async fn read_scan<T, F>(&self, work: F) -> Result<T, MetaError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, MetaError> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || read_with_pooled_connection(&inner, work)).await
    }

    /// Runs `work` in a write transaction, committed when it returns `Ok`.
    pub(crate) async fn write<T, F>(&self, work: F) -> Result<T, MetaError>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction) -> Result<T, MetaError> + Send + 'static,
    {
        let inner = self.inner.clone();
        run_blocking(move || {
            let mut writer = inner.writer.lock().expect("writer lock");
            let transaction =
                writer.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = work(&transaction)?;
            transaction.commit()?;
            Ok(value)
        })
        .await
    }
}

fn read_with_pooled_connection<T>(
    inner: &Inner,
    work: impl FnOnce(&Connection) -> Result<T, MetaError>,
) -> Result<T, MetaError> {
    let pooled = inner.readers.lock().expect("reader pool lock").pop();
    let connection = match pooled {
        Some(connection) => connection,
        None => open_connection(&inner.path, true)?,
    };
    let result = work(&connection);
    let mut readers = inner.readers.lock().expect("reader pool lock");
    if readers.len() < IDLE_READERS {
        readers.push(connection);
    }
    result
}

async fn run_blocking<T, F>(work: F) -> Result<T, MetaError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, MetaError> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| MetaError::Backend(format!("metadata task failed: {error}")))?
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, MetaError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let connection = Connection::open_with_flags(path, flags)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    // WAL lets readers run beside the writer; NORMAL sync keeps every committed
    // transaction across a process crash, which is the durability berth promises.
    connection.pragma_update(None, "journal_mode", "WAL")?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

fn migrate(connection: &mut Connection) -> Result<(), MetaError> {
    let applied: usize = connection.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if applied > MIGRATIONS.len() {
        return Err(MetaError::Backend(format!(
            "the database has schema version {applied}, newer than this berth ({}); upgrade berth",
            MIGRATIONS.len()
        )));
    }
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", index + 1)?;
        transaction.commit()?;
        tracing::info!(version = index + 1, "applied metadata schema migration");
    }
    Ok(())
}

/// Looks up a repository's row id.
pub(crate) fn repository_id(
    connection: &Connection,
    name: &RepositoryName,
) -> Result<i64, MetaError> {
    connection
        .prepare_cached("SELECT id FROM repositories WHERE name = ?1")?
        .query_row([name.as_str()], |row| row.get(0))
        .optional()?
        .ok_or_else(|| MetaError::RepositoryNotFound(name.to_string()))
}

/// Reads a digest column; berth writes only validated digests there.
pub(crate) fn digest_column(
    row: &rusqlite::Row,
    index: usize,
) -> rusqlite::Result<berth_types::Digest> {
    let text: String = row.get(index)?;
    berth_types::Digest::parse(&text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            Box::new(error),
        )
    })
}

pub(crate) fn tag_column(text: &str) -> rusqlite::Result<berth_types::Tag> {
    berth_types::Tag::parse(text).map_err(|error| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(error))
    })
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;

//! [`SqlStore`]: the [`Store`] on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Statements use `$n` placeholders and types both databases share (TEXT,
//! 64-bit integers, BLOB/BYTEA), so one text serves both backends.

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use super::model::{parse_level, parse_stream};
use super::{
    ComponentRecord, Created, Error, LogRecord, NewWorkflow, Result, RunCommit, StatusUpdate, Store,
    StoredEntry, WorkflowFilter, WorkflowRecord, WorkflowStatus,
};
use crate::clock;
use crate::ids::{ComponentDigest, WorkflowId};
use crate::journal::LogLine;

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How long a statement waits for a connection before failing, so that an
/// unreachable database turns into a prompt error instead of a hung request.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

const WORKFLOW_COLUMNS: &str =
    "ordinal, id, component, status, input, output, error, wake_at_ms, created_at_ms, updated_at_ms";
/// A component's columns, with the first of the names pointing at it.
const COMPONENT_COLUMNS: &str = "digest, size_bytes, created_at_ms,
    (SELECT MIN(n.name) FROM component_names n WHERE n.digest = components.digest) AS name";

/// The SQL store; see the module docs.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
}

impl SqlStore {
    /// Connects to `url` and migrates; see [`super::connect`].
    ///
    /// # Errors
    /// As [`super::connect`].
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let (url, migrator, max_connections) = if let Some(path) = url.strip_prefix("sqlite:") {
            // Create the file if missing. One writer at a time is all SQLite
            // allows, and the runtime's group commit funnels writes anyway.
            let path = path.trim_start_matches("//");
            let url = if path.contains('?') || path == ":memory:" {
                format!("sqlite:{path}")
            } else {
                format!("sqlite://{path}?mode=rwc")
            };
            (url, &SQLITE_MIGRATOR, if path == ":memory:" { 1 } else { 4 })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            (url.to_owned(), &POSTGRES_MIGRATOR, 8)
        } else {
            return Err(Error::UnsupportedUrl(url.to_owned()));
        };
        let mut options =
            AnyPoolOptions::new().max_connections(max_connections).acquire_timeout(ACQUIRE_TIMEOUT);
        if max_connections == 1 {
            // An in-memory SQLite database lives as long as its one connection.
            options = options.min_connections(1).idle_timeout(None).max_lifetime(None);
        }
        let pool = options.connect(&url).await?;
        if url.starts_with("sqlite:") {
            // WAL lets readers (the API) run beside the writer; it persists in the file.
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        migrator.run(&pool).await?;
        Ok(Self { pool })
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn put_component(
        &self,
        digest: &ComponentDigest,
        name: Option<&str>,
        bytes: &[u8],
    ) -> Result<Created<ComponentRecord>> {
        let now = clock::now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO components (digest, size_bytes, bytes, created_at_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING",
        )
        .bind(digest.as_str())
        .bind(to_i64(bytes.len() as u64))
        .bind(bytes)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if let Some(name) = name {
            sqlx::query(
                "INSERT INTO component_names (name, digest, updated_at_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET digest = excluded.digest, updated_at_ms = excluded.updated_at_ms",
            )
            .bind(name)
            .bind(digest.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(&format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE digest = $1"))
            .bind(digest.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let record = component_from_row(&row)?;
        Ok(if inserted { Created::New(record) } else { Created::Existing(record) })
    }

    async fn component(&self, digest_or_name: &str) -> Result<Option<ComponentRecord>> {
        if digest_or_name.contains('\0') {
            // Never a stored digest or name (and PostgreSQL refuses NUL in text).
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "SELECT {COMPONENT_COLUMNS} FROM components WHERE digest = $1
             OR digest = (SELECT digest FROM component_names WHERE name = $1)"
        ))
        .bind(digest_or_name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(component_from_row).transpose()
    }

    async fn component_bytes(&self, digest: &ComponentDigest) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query("SELECT bytes FROM components WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|row| row.try_get("bytes")).transpose()?)
    }

    async fn list_components(&self) -> Result<Vec<ComponentRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {COMPONENT_COLUMNS} FROM components ORDER BY created_at_ms DESC, digest"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(component_from_row).collect()
    }

    async fn create_workflow(&self, new: &NewWorkflow) -> Result<Created<WorkflowRecord>> {
        let now = clock::now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO workflows (id, component, input, status, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(new.id.as_str())
        .bind(new.component.as_str())
        .bind(storable(&new.input).as_ref())
        .bind(WorkflowStatus::Running.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let row = sqlx::query(&format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"))
            .bind(new.id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let record = workflow_from_row(&row)?;
        Ok(if inserted { Created::New(record) } else { Created::Existing(record) })
    }

    async fn workflow(&self, id: &WorkflowId) -> Result<Option<WorkflowRecord>> {
        let row = sqlx::query(&format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(workflow_from_row).transpose()
    }

    async fn list_workflows(&self, filter: &WorkflowFilter) -> Result<Vec<WorkflowRecord>> {
        // NULL parameters switch a condition off, so one statement serves every filter.
        let rows = sqlx::query(&format!(
            "SELECT {WORKFLOW_COLUMNS} FROM workflows
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR component = $2)
               AND ($3 IS NULL OR ordinal < $3)
             ORDER BY ordinal DESC LIMIT $4"
        ))
        .bind(filter.status.map(WorkflowStatus::as_str))
        .bind(filter.component.as_ref().map(ComponentDigest::as_str))
        .bind(filter.before)
        .bind(i64::from(filter.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(workflow_from_row).collect()
    }

    async fn due_workflows(&self, now_ms: i64, limit: u32) -> Result<Vec<WorkflowId>> {
        let rows = sqlx::query(
            "SELECT id FROM workflows
             WHERE status = $1 OR (status = $2 AND wake_at_ms <= $3)
             ORDER BY COALESCE(wake_at_ms, 0), ordinal LIMIT $4",
        )
        .bind(WorkflowStatus::Running.as_str())
        .bind(WorkflowStatus::Sleeping.as_str())
        .bind(now_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|row| Ok(WorkflowId::from_stored(row.try_get("id")?))).collect()
    }

    async fn claim(&self, id: &WorkflowId, now_ms: i64) -> Result<Option<WorkflowRecord>> {
        // Waking a due sleeper is a write; a workflow already `running` (new,
        // or interrupted by a crash) is only read, which costs no commit.
        let woken = sqlx::query(&format!(
            "UPDATE workflows SET status = $1, wake_at_ms = NULL, updated_at_ms = $4
             WHERE id = $3 AND status = $2 AND wake_at_ms <= $4
             RETURNING {WORKFLOW_COLUMNS}"
        ))
        .bind(WorkflowStatus::Running.as_str())
        .bind(WorkflowStatus::Sleeping.as_str())
        .bind(id.as_str())
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        let row = match woken {
            Some(row) => Some(row),
            None => {
                sqlx::query(&format!(
                    "SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = $1 AND status = $2"
                ))
                .bind(id.as_str())
                .bind(WorkflowStatus::Running.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
        };
        row.as_ref().map(workflow_from_row).transpose()
    }

    async fn next_wake_at_ms(&self) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT MIN(wake_at_ms) AS wake_at_ms FROM workflows WHERE status = $1")
            .bind(WorkflowStatus::Sleeping.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("wake_at_ms")?)
    }

    async fn journal(&self, id: &WorkflowId, after: Option<u64>, limit: u32) -> Result<Vec<StoredEntry>> {
        let rows = sqlx::query(
            "SELECT seq, kind, payload, recorded_at_ns FROM journal
             WHERE workflow_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(id.as_str())
        .bind(after.map_or(-1, to_i64))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEntry {
                    seq: to_u64(row.try_get("seq")?),
                    kind: row.try_get("kind")?,
                    payload: row.try_get("payload")?,
                    recorded_at_ns: to_u64(row.try_get("recorded_at_ns")?),
                })
            })
            .collect()
    }

    async fn logs(&self, id: &WorkflowId, after: Option<i64>, limit: u32) -> Result<Vec<LogRecord>> {
        let rows = sqlx::query(
            "SELECT ordinal, at_ns, level, stream, message FROM logs
             WHERE workflow_id = $1 AND ordinal > $2 ORDER BY ordinal LIMIT $3",
        )
        .bind(id.as_str())
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(LogRecord {
                    ordinal: row.try_get("ordinal")?,
                    line: LogLine {
                        at_ns: to_u64(row.try_get("at_ns")?),
                        level: parse_level(&row.try_get::<String, _>("level")?)?,
                        stream: parse_stream(&row.try_get::<String, _>("stream")?)?,
                        message: row.try_get("message")?,
                    },
                })
            })
            .collect()
    }

    async fn commit(&self, batch: &[RunCommit]) -> Result<()> {
        let now = clock::now_ms();
        let mut tx = self.pool.begin().await?;
        for run in batch {
            let id = run.workflow_id.as_str();
            for entry in &run.entries {
                sqlx::query(
                    "INSERT INTO journal (workflow_id, seq, kind, payload, recorded_at_ns)
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(to_i64(entry.seq))
                .bind(entry.kind.as_str())
                .bind(entry.payload.as_slice())
                .bind(to_i64(entry.recorded_at_ns))
                .execute(&mut *tx)
                .await?;
            }
            for line in &run.logs {
                sqlx::query(
                    "INSERT INTO logs (workflow_id, at_ns, level, stream, message) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(id)
                .bind(to_i64(line.at_ns))
                .bind(line.level.as_str())
                .bind(line.stream.as_str())
                .bind(storable(&line.message).as_ref())
                .execute(&mut *tx)
                .await?;
            }
            let (output, error, wake_at_ms) = match &run.update {
                StatusUpdate::Sleeping { wake_at_ms } => (None, None, Some(*wake_at_ms)),
                StatusUpdate::Completed { output } => (Some(storable(output)), None, None),
                StatusUpdate::Failed { error } | StatusUpdate::Stuck { error } => {
                    (None, Some(storable(error)), None)
                }
            };
            let updated = sqlx::query(
                "UPDATE workflows SET status = $1, output = $2, error = $3, wake_at_ms = $4, updated_at_ms = $5
                 WHERE id = $6 AND status NOT IN ($7, $8, $9)",
            )
            .bind(run.update.status().as_str())
            .bind(output.as_deref())
            .bind(error.as_deref())
            .bind(wake_at_ms)
            .bind(now)
            .bind(id)
            .bind(WorkflowStatus::Completed.as_str())
            .bind(WorkflowStatus::Failed.as_str())
            .bind(WorkflowStatus::Stuck.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated != 1 {
                return Err(Error::AlreadyFinal(run.workflow_id.clone()));
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

fn component_from_row(row: &AnyRow) -> Result<ComponentRecord> {
    Ok(ComponentRecord {
        digest: ComponentDigest::from_stored(row.try_get("digest")?),
        name: row.try_get("name")?,
        size_bytes: to_u64(row.try_get("size_bytes")?),
        created_at_ms: row.try_get("created_at_ms")?,
    })
}

fn workflow_from_row(row: &AnyRow) -> Result<WorkflowRecord> {
    let status: String = row.try_get("status")?;
    Ok(WorkflowRecord {
        id: WorkflowId::from_stored(row.try_get("id")?),
        component: ComponentDigest::from_stored(row.try_get("component")?),
        status: WorkflowStatus::parse(&status)
            .ok_or_else(|| Error::Corrupt(format!("unknown workflow status {status:?}")))?,
        input: row.try_get("input")?,
        output: row.try_get("output")?,
        error: row.try_get("error")?,
        wake_at_ms: row.try_get("wake_at_ms")?,
        created_at_ms: row.try_get("created_at_ms")?,
        updated_at_ms: row.try_get("updated_at_ms")?,
        ordinal: row.try_get("ordinal")?,
    })
}

/// `text` without NUL characters, which PostgreSQL's TEXT cannot hold; the
/// same on SQLite so both backends store the same thing.
fn storable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\0') { text.replace('\0', "\u{fffd}").into() } else { text.into() }
}

/// Unsigned quantities are stored in signed 64-bit columns; values past
/// `i64::MAX` (ns timestamps after 2262) saturate.
fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

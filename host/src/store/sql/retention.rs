//! Deleting what is no longer needed: one ended workflow, a batch of them
//! past the retention period, an unused component.
//!
//! A workflow's rows live in five tables keyed by its id; each delete takes
//! them all in one transaction, so no reader sees a workflow without its
//! journal.
//!
//! A retention step reads the next workflows in creation order (the
//! primary key) and deletes those that ended before the cutoff; a final
//! status never changes (`stuck`, which an upgrade can leave, is kept), so
//! what was read is still eligible, and each transaction holds its locks
//! for one batch only. The sweep ends at the first workflow created after
//! the cutoff: it cannot have ended before it. There is no index on the
//! time a workflow ended: every commit moves `updated_at_ms`, and an index
//! on it cost each commit PostgreSQL's HOT update (measured: about a sixth
//! more database CPU per durable step).

use sqlx::Row;

use super::{SqlStore, Tx, parse_status};
use crate::clock;
use crate::ids::{ComponentDigest, WorkflowId};
use crate::store::{Deletion, Result, RetentionStep, WorkflowStatus};

/// The tables that hang off a workflow, by `workflow_id`.
const WORKFLOW_TABLES: [&str; 4] = ["journal", "logs", "signals", "events"];

/// `$first, $first+1, …` for `count` binds.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Deletes the rows of `ids` from every workflow table, then the workflows.
async fn delete_rows(tx: &mut Tx<'_>, ids: &[String]) -> Result<u64> {
    let list = placeholders(1, ids.len());
    for table in WORKFLOW_TABLES {
        let sql = format!("DELETE FROM {table} WHERE workflow_id IN ({list})");
        ids.iter().fold(sqlx::query(&sql), |query, id| query.bind(id.as_str())).execute(&mut **tx).await?;
    }
    let sql = format!("DELETE FROM workflows WHERE id IN ({list})");
    let deleted =
        ids.iter().fold(sqlx::query(&sql), |query, id| query.bind(id.as_str())).execute(&mut **tx).await?;
    Ok(deleted.rows_affected())
}

impl SqlStore {
    pub(super) async fn delete_one_workflow(&self, id: &WorkflowId) -> Result<Deletion> {
        let mut tx = self.write.begin().await?;
        let row = sqlx::query("SELECT status FROM workflows WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(Deletion::NotFound) };
        let status = parse_status(row.try_get("status")?)?;
        if !status.is_final() {
            return Ok(Deletion::InUse(Some(status)));
        }
        delete_rows(&mut tx, &[id.as_str().to_owned()]).await?;
        tx.commit().await?;
        Ok(Deletion::Deleted)
    }

    pub(super) async fn retention_step(
        &self,
        before_ms: i64,
        after: i64,
        limit: u32,
    ) -> Result<RetentionStep> {
        let rows = sqlx::query(
            "SELECT ordinal, id, status, created_at_ms, updated_at_ms FROM workflows
             WHERE ordinal > $1 ORDER BY ordinal LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        let mut ended = Vec::new();
        let mut last = None;
        let mut over = rows.len() < limit as usize;
        for row in &rows {
            if row.try_get::<i64, _>("created_at_ms")? >= before_ms {
                over = true;
                break;
            }
            last = Some(row.try_get::<i64, _>("ordinal")?);
            let status = parse_status(row.try_get("status")?)?;
            let deletable = status.is_final() && status != WorkflowStatus::Stuck;
            if deletable && row.try_get::<i64, _>("updated_at_ms")? < before_ms {
                ended.push(row.try_get::<String, _>("id")?);
            }
        }
        let deleted = if ended.is_empty() {
            0
        } else {
            let mut tx = self.write.begin().await?;
            let deleted = delete_rows(&mut tx, &ended).await?;
            tx.commit().await?;
            deleted
        };
        Ok(RetentionStep { deleted, next: if over { None } else { last } })
    }

    pub(super) async fn delete_unused_component(&self, digest: &ComponentDigest) -> Result<Deletion> {
        let mut tx = self.write.begin().await?;
        let known = sqlx::query("SELECT 1 AS found FROM components WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !known {
            return Ok(Deletion::NotFound);
        }
        let used = sqlx::query("SELECT 1 AS used FROM workflows WHERE component = $1 LIMIT 1")
            .bind(digest.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if used {
            return Ok(Deletion::InUse(None));
        }
        sqlx::query("DELETE FROM component_versions WHERE digest = $1")
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?;
        // A name that pointed here moves back to its latest other version.
        sqlx::query(
            "UPDATE component_names SET updated_at_ms = $2, digest = (
                 SELECT v.digest FROM component_versions v WHERE v.name = component_names.name
                 ORDER BY v.pushed_at_ms DESC, v.digest LIMIT 1)
             WHERE digest = $1
               AND EXISTS (SELECT 1 FROM component_versions v WHERE v.name = component_names.name)",
        )
        .bind(digest.as_str())
        .bind(clock::now_ms())
        .execute(&mut *tx)
        .await?;
        for sql in
            ["DELETE FROM component_names WHERE digest = $1", "DELETE FROM components WHERE digest = $1"]
        {
            sqlx::query(sql).bind(digest.as_str()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Deletion::Deleted)
    }
}

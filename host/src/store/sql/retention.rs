//! Deleting what is no longer needed: one ended workflow, a batch of them
//! past the retention period, an unused component.
//!
//! A workflow's rows live in five tables keyed by its id; each delete takes
//! them all in one transaction, so no reader sees a workflow without its
//! journal. The retention batch first picks its ids with a plain read (the
//! `(status, updated_at_ms)` index), then deletes exactly those: a final
//! status never changes (`stuck`, which an upgrade can leave, is not
//! picked), so the picked rows are still eligible, and each transaction
//! holds its locks only for one batch.

use sqlx::Row;

use super::{SqlStore, Tx, parse_status};
use crate::clock;
use crate::ids::{ComponentDigest, WorkflowId};
use crate::store::{Deletion, Result};

/// The tables that hang off a workflow, by `workflow_id`.
const WORKFLOW_TABLES: [&str; 4] = ["journal", "logs", "signals", "events"];

/// The statuses retention deletes: final, but not `stuck`.
const RETAINED_FINAL: &str = "('completed', 'failed', 'cancelled', 'terminated')";

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

    pub(super) async fn delete_batch_ended_before(&self, before_ms: i64, limit: u32) -> Result<u64> {
        let ids: Vec<String> = sqlx::query(&format!(
            "SELECT id FROM workflows WHERE status IN {RETAINED_FINAL} AND updated_at_ms < $1
             ORDER BY updated_at_ms LIMIT $2"
        ))
        .bind(before_ms)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect::<std::result::Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(0);
        }
        let mut tx = self.write.begin().await?;
        let deleted = delete_rows(&mut tx, &ids).await?;
        tx.commit().await?;
        Ok(deleted)
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

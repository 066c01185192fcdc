//! Schedules: workflows started on a cron expression or an interval, once
//! per tick, with Temporal's overlap policies and catch-up window.
//!
//! Ticks are due by the database's clock, as leases are, so that hosts
//! whose clocks differ agree on them.
//!
//! Every host runs [`run`]: when the next schedule is due, at least every
//! [`POLL`] (for those other hosts create), and at once when a schedule is
//! created or resumed here, it reads the schedules due, and
//! steps each: [`plan::due`] decides what its due ticks do, and the store
//! writes that with a compare-and-set on the schedule's revision, together
//! with the workflows started (due now, for any host to claim) and the
//! cancel or terminate of the workflow they replace, in one transaction. A
//! host that loses the race writes nothing; a crash before the commit
//! leaves the ticks due, to be handled after the restart within the
//! catch-up window.
//! So each tick starts one workflow or is recorded as skipped, never both
//! and never twice, whatever hosts race or crash. Its workflow id,
//! `<schedule>:<RFC 3339 time>`, names the tick.
//!
//! A workflow's id may hold no `/`, so the id is `<schedule>:<time>`, not
//! `<schedule>/<time>` (ids are one URL path segment: see
//! [`WorkflowId::parse`]).

mod plan;
mod spec;

use std::sync::Arc;
use std::time::Duration;

use self::spec::Ticks;
pub use self::spec::{DEFAULT_TIME_ZONE, MAX_INTERVAL_MS};
use super::{Error, Inner, Runtime};
use crate::clock;
use crate::ids::{ComponentDigest, WorkflowId};
use crate::store::{
    Created, ScheduleDefinition, ScheduleRecord, ScheduleState, ScheduleStep, TickRecord, WorkflowRecord,
    Written,
};
use crate::telemetry::metrics;

/// Longest schedule id, in bytes: its ticks' workflow ids,
/// `<schedule>:<time>` (at most 28 more), must fit in 128.
pub const MAX_SCHEDULE_ID_BYTES: usize = 100;
/// Longest pause or resume note, in bytes.
pub const MAX_NOTE_BYTES: usize = 1_024;
/// Longest time between two looks for due schedules.
const POLL: Duration = Duration::from_secs(1);
/// Schedules stepped per look.
const BATCH: u32 = 64;
/// Tries of an API change to a schedule that another host keeps changing
/// (or is stepping: its row is locked).
const CHANGE_TRIES: u32 = 5;

/// Steps due schedules until shutdown.
pub(super) async fn run(inner: Arc<Inner>) {
    loop {
        // A step that failed leaves its schedule due: wait a whole POLL
        // before the next try rather than spin on it.
        let mut failed = false;
        let due = match inner.store.database_now_ms().await {
            Ok(now) => inner.store.due_schedules(now, BATCH).await.map(|due| (now, due)),
            Err(error) => Err(error),
        };
        match due {
            Ok((now, mut due)) => {
                // Each host starts at its own place in the batch, so that
                // hosts sharing a database step different schedules first.
                let offset = getrandom::u64().unwrap_or(0) % (due.len().max(1) as u64);
                due.rotate_left(usize::try_from(offset).unwrap_or(0));
                for record in due {
                    let id = record.id.clone();
                    if let Err(error) = step(&inner, record, now).await {
                        tracing::warn!(schedule = %id, %error, "schedule step failed; trying again soon");
                        failed = true;
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the schedules due; trying again soon");
                failed = true;
            }
        }
        // Until the next schedule is due, or the next look for those that
        // other hosts created or changed.
        let next_due = inner.store.next_schedule_due().await.ok().flatten();
        let wait = match next_due {
            Some(due) if !failed => {
                Duration::from_millis(u64::try_from(due.saturating_sub(clock::now_ms())).unwrap_or(0))
                    .min(POLL)
            }
            _ => POLL,
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = inner.schedules_changed.notified() => {}
            () = inner.shutdown.cancelled() => return,
        }
    }
}

/// Handles `record`'s ticks due by `now_ms` (the database's clock).
async fn step(inner: &Arc<Inner>, record: ScheduleRecord, now_ms: i64) -> Result<(), Error> {
    let ticks = Ticks::new(&record.definition.spec).map_err(Error::InvalidSchedule)?;
    let previous_open = match &record.state.last_workflow {
        Some(id) => inner.store.workflow(id).await?.is_some_and(|workflow| !workflow.state.status.is_final()),
        None => false,
    };
    let component = tick_component(inner, &record.definition.component).await?;
    let step = plan::due(&record, &ticks, now_ms, previous_open, &component);
    commit(inner, &record.id, &step).await?;
    Ok(())
}

/// The digest a tick of a schedule of `component` starts now, or why it
/// cannot (the tick is then skipped with that reason).
///
/// # Errors
/// [`Error::Store`]; an unknown component or an activity is the inner
/// error.
async fn tick_component(
    inner: &Arc<Inner>,
    component: &str,
) -> Result<Result<ComponentDigest, String>, Error> {
    match inner.components.resolve_workflow(component).await {
        Ok(record) => Ok(Ok(record.digest)),
        Err(error @ (Error::UnknownComponent(_) | Error::InvalidComponent(_))) => Ok(Err(error.to_string())),
        Err(error) => Err(error),
    }
}

/// Writes `step`, and tells this host's scheduler and runs what it
/// started and stopped; what it wrote, or `None` if the schedule moved on
/// meanwhile (nothing written).
async fn commit(inner: &Arc<Inner>, id: &str, step: &ScheduleStep) -> Result<Option<Written>, Error> {
    let Some(written) = inner.store.step_schedule(id, step).await? else {
        return Ok(None);
    };
    let mut started = false;
    for created in &written.started {
        if let Created::New(record) = created {
            metrics::workflow_started(record.component.as_str());
            started = true;
        }
    }
    if started {
        inner.arrivals.scheduler.notify_one();
    }
    if let Some(stop) = step.stop.as_ref().filter(|stop| stop.terminate) {
        inner.terminated(&stop.workflow);
    }
    inner.arrivals.poke(&written.arrived);
    Ok(Some(written))
}

impl Runtime {
    /// Creates schedule `id` with `definition`, paused or not, with `note`.
    /// A schedule of the same id and definition is answered as
    /// [`Created::Existing`], so creation is idempotent.
    ///
    /// # Errors
    /// [`Error::InvalidSchedule`] for a bad id, spec, policy or note,
    /// [`Error::UnknownComponent`], [`Error::InvalidComponent`] for an
    /// activity, [`Error::ScheduleIdConflict`] if the id is taken by another
    /// definition, [`Error::Store`].
    pub async fn create_schedule(
        &self,
        id: &str,
        definition: ScheduleDefinition,
        paused: bool,
        note: Option<String>,
    ) -> Result<Created<ScheduleRecord>, Error> {
        check_id(id)?;
        check_note(note.as_deref())?;
        let ticks = Ticks::new(&definition.spec).map_err(Error::InvalidSchedule)?;
        if definition.catchup_window_ms < 0 {
            return Err(Error::InvalidSchedule("the catch-up window must not be negative".into()));
        }
        if definition.max_runs.is_some_and(|max| max < 1) {
            return Err(Error::InvalidSchedule("max_runs must be at least 1".into()));
        }
        self.inner.components.resolve_workflow(&definition.component).await?;
        let now = clock::now_ms();
        let next_tick_ms =
            ticks.next_after(now).filter(|tick| definition.end_at_ms.is_none_or(|end| *tick <= end));
        let record = ScheduleRecord {
            id: id.to_owned(),
            definition,
            state: ScheduleState {
                paused,
                note,
                next_tick_ms,
                due_at_ms: next_tick_ms.filter(|_| !paused),
                buffered_ms: None,
                last_workflow: None,
            },
            runs: 0,
            skipped: 0,
            // Not 0: a host still holding a step of a deleted schedule of
            // this id (planned at its revision) must not match the new one.
            revision: now,
            created_at_ms: now,
            updated_at_ms: now,
        };
        let created = self.inner.store.create_schedule(&record).await?;
        if let Created::Existing(existing) = &created
            && existing.definition != record.definition
        {
            return Err(Error::ScheduleIdConflict(id.to_owned()));
        }
        self.inner.schedules_changed.notify_one();
        Ok(created)
    }

    /// Schedule `id`.
    ///
    /// # Errors
    /// [`Error::UnknownSchedule`], [`Error::Store`].
    pub async fn schedule(&self, id: &str) -> Result<ScheduleRecord, Error> {
        self.inner.store.schedule(id).await?.ok_or_else(|| Error::UnknownSchedule(id.to_owned()))
    }

    /// Up to `limit` schedules in id order, after `after` if given.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn schedules(&self, after: Option<&str>, limit: u32) -> Result<Vec<ScheduleRecord>, Error> {
        Ok(self.inner.store.list_schedules(after, limit).await?)
    }

    /// The newest `limit` rows of schedule `id`'s history, newest first.
    ///
    /// # Errors
    /// [`Error::Store`].
    pub async fn schedule_history(&self, id: &str, limit: u32) -> Result<Vec<TickRecord>, Error> {
        Ok(self.inner.store.schedule_history(id, limit).await?)
    }

    /// Pauses schedule `id` (`paused`) or resumes it, with `note`. Ticks
    /// that fall while it is paused are skipped, and counted at the resume;
    /// it goes on from the first tick after that. Idempotent.
    ///
    /// # Errors
    /// [`Error::UnknownSchedule`], [`Error::InvalidSchedule`] for a note
    /// over 1 KiB, [`Error::ScheduleChanged`] if other hosts kept changing
    /// it, [`Error::Store`].
    pub async fn set_schedule_paused(
        &self,
        id: &str,
        paused: bool,
        note: Option<String>,
    ) -> Result<ScheduleRecord, Error> {
        check_note(note.as_deref())?;
        for attempt in 0..CHANGE_TRIES {
            retry_pause(attempt).await;
            let record = self.schedule(id).await?;
            let ticks = Ticks::new(&record.definition.spec).map_err(Error::InvalidSchedule)?;
            let step = plan::set_paused(&record, &ticks, clock::now_ms(), paused, note.clone());
            if commit(&self.inner, id, &step).await?.is_some() {
                self.inner.schedules_changed.notify_one();
                return self.schedule(id).await;
            }
        }
        Err(Error::ScheduleChanged(id.to_owned()))
    }

    /// Starts a workflow of schedule `id` now, whatever its spec, pause and
    /// overlap policy say (as Temporal's trigger does), with the id
    /// `<schedule>:<now>`; its ticks go on as they were.
    ///
    /// # Errors
    /// [`Error::UnknownSchedule`], [`Error::InvalidComponent`] if its
    /// component cannot start now (gone, or an activity),
    /// [`Error::ScheduleChanged`], [`Error::Store`].
    pub async fn trigger_schedule(&self, id: &str) -> Result<WorkflowRecord, Error> {
        for attempt in 0..CHANGE_TRIES {
            retry_pause(attempt).await;
            let record = self.schedule(id).await?;
            let component = match tick_component(&self.inner, &record.definition.component).await? {
                Ok(digest) => Ok(digest),
                Err(reason) => return Err(Error::InvalidComponent(reason)),
            };
            let step = plan::trigger(&record, clock::now_ms(), &component);
            if let Some(written) = commit(&self.inner, id, &step).await? {
                return match written.started.into_iter().next() {
                    Some(Created::New(workflow) | Created::Existing(workflow)) => Ok(workflow),
                    None => Err(Error::HostSide("a trigger started no workflow".into())),
                };
            }
        }
        Err(Error::ScheduleChanged(id.to_owned()))
    }

    /// Deletes schedule `id` and its history; the workflows it started
    /// stay.
    ///
    /// # Errors
    /// [`Error::UnknownSchedule`], [`Error::Store`].
    pub async fn delete_schedule(&self, id: &str) -> Result<(), Error> {
        if self.inner.store.delete_schedule(id).await? {
            Ok(())
        } else {
            Err(Error::UnknownSchedule(id.to_owned()))
        }
    }
}

/// The next `count` tick times of `record` from now, in ms since the Unix
/// epoch: from its next tick, or for a paused one whose next tick has
/// passed, from the first after now (what a resume would do). Empty once it
/// has ended.
pub fn upcoming_ticks(record: &ScheduleRecord, count: usize) -> Vec<i64> {
    let (Some(next), Ok(ticks)) = (record.state.next_tick_ms, Ticks::new(&record.definition.spec)) else {
        return Vec::new();
    };
    let now = clock::now_ms();
    let first = if next >= now { Some(next) } else { ticks.next_after(now) };
    let mut upcoming: Vec<i64> = first.into_iter().collect();
    if let Some(first) = first {
        upcoming.extend(ticks.next_n(first, count.saturating_sub(1)));
    }
    upcoming.retain(|tick| record.definition.end_at_ms.is_none_or(|end| *tick <= end));
    if let Some(max) = record.definition.max_runs {
        upcoming.truncate(usize::try_from(max.saturating_sub(record.runs)).unwrap_or(0));
    }
    upcoming
}

/// Before try `attempt` of an API change: nothing for the first, then 10,
/// 20, 40, … ms, for a host stepping the schedule to commit.
async fn retry_pause(attempt: u32) {
    if attempt > 0 {
        tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
    }
}

/// Checks a schedule id: a workflow id's characters, at most
/// [`MAX_SCHEDULE_ID_BYTES`].
fn check_id(id: &str) -> Result<(), Error> {
    WorkflowId::parse(id)
        .map_err(|error| Error::InvalidSchedule(error.replace("workflow id", "schedule id")))?;
    if id.len() > MAX_SCHEDULE_ID_BYTES {
        return Err(Error::InvalidSchedule(format!(
            "schedule id must be at most {MAX_SCHEDULE_ID_BYTES} bytes long (its workflows' ids add the tick time)"
        )));
    }
    Ok(())
}

fn check_note(note: Option<&str>) -> Result<(), Error> {
    match note {
        Some(note) if note.len() > MAX_NOTE_BYTES => {
            Err(Error::InvalidSchedule(format!("a note is at most {MAX_NOTE_BYTES} bytes")))
        }
        _ => Ok(()),
    }
}

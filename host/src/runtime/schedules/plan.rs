//! What one handling of a schedule does: which of its due ticks start a
//! workflow, wait, or are skipped, under its overlap policy, catch-up
//! window, end time and run count, and which open workflow is to be
//! cancelled or terminated. Pure: the caller reads the schedule and its
//! previous workflow, and the store writes the [`ScheduleStep`] this
//! returns in one transaction with a compare-and-set, so a tick is handled
//! once whatever hosts race, and a workflow is stopped only by the step
//! that starts or buffers its successor.

use super::spec::Ticks;
use crate::ids::{ComponentDigest, WorkflowId};
use crate::store::{
    NewWorkflow, OverlapPolicy, ScheduleRecord, ScheduleStep, ScheduledBy, StopWorkflow, TickOutcome,
    TickRecord,
};

/// Most ticks one step handles; a schedule with more due (after a long
/// stop) is due again at once.
pub(super) const MAX_TICKS_PER_STEP: usize = 1_000;
/// Most workflows one step starts (each carries the schedule's input), with
/// the same effect.
pub(super) const MAX_STARTS_PER_STEP: usize = 64;
/// How soon a schedule holding a buffered tick looks again at whether its
/// previous workflow has ended, in ms.
pub(super) const BUFFER_RECHECK_MS: i64 = 1_000;

/// The reason of a tick later than the catch-up window.
pub(super) const MISSED: &str = "missed: later than the catch-up window";
/// The reason of a tick skipped because the previous workflow is open.
pub(super) const OVERLAP: &str = "overlap: the previous workflow is still open";
/// The reason of a tick skipped because another tick is buffered.
pub(super) const BUFFER_FULL: &str = "overlap: another tick is already buffered";
/// The reason of the ticks that fell while the schedule was paused.
pub(super) const PAUSED: &str = "paused";
/// The reason of a `terminate_other` tick that a later tick of the same
/// step replaced before it started.
pub(super) const SUPERSEDED: &str = "superseded: a later due tick started instead";

/// The workflow id of schedule `schedule`'s tick at `nominal_ms`:
/// `<schedule>:<RFC 3339 time in UTC>`, e.g. `nightly:2026-11-23T02:00:00Z`,
/// so that a tick can start only one workflow.
pub(super) fn tick_workflow_id(schedule: &str, nominal_ms: i64) -> WorkflowId {
    let time = jiff::Timestamp::from_millisecond(nominal_ms).map(|t| t.to_string()).unwrap_or_default();
    WorkflowId::from_stored(format!("{schedule}:{time}"))
}

/// The state a step starts from and what it has done so far.
struct Planner<'a> {
    record: &'a ScheduleRecord,
    component: &'a Result<ComponentDigest, String>,
    step: ScheduleStep,
    runs: i64,
    open: bool,
    now_ms: i64,
}

impl<'a> Planner<'a> {
    /// A planner at `record`'s state, with nothing done yet: `open` says
    /// whether a workflow of the schedule is open.
    fn new(
        record: &'a ScheduleRecord,
        component: &'a Result<ComponentDigest, String>,
        open: bool,
        now_ms: i64,
    ) -> Self {
        let step = ScheduleStep {
            expected_revision: record.revision,
            state: record.state.clone(),
            stop: None,
            runs_added: 0,
            skipped_added: 0,
            starts: Vec::new(),
            ticks: Vec::new(),
        };
        Self { record, component, step, runs: record.runs, open, now_ms }
    }

    /// Starts a workflow for the tick at `nominal_ms`; whether it did (or
    /// skipped the tick, as its component cannot start).
    fn start(&mut self, nominal_ms: i64, outcome: TickOutcome) -> bool {
        let digest = match self.component {
            Ok(digest) => digest.clone(),
            Err(reason) => {
                self.skip(nominal_ms, reason);
                return false;
            }
        };
        let id = tick_workflow_id(&self.record.id, nominal_ms);
        self.step.starts.push(NewWorkflow {
            id: id.clone(),
            component: digest,
            input: self.record.definition.input.clone(),
            parent: None,
            deadline_ms: None,
            trace_parent: None,
            scheduled_by: Some(ScheduledBy { schedule: self.record.id.clone(), nominal_ms }),
        });
        self.record_tick(nominal_ms, outcome, None, Some(id.clone()));
        self.step.state.last_workflow = Some(id);
        self.open = true;
        if outcome == TickOutcome::Started {
            self.runs += 1;
            self.step.runs_added += 1;
        }
        true
    }

    /// Takes back the last workflow this step started: its tick is skipped
    /// as superseded instead.
    fn supersede_last_start(&mut self) {
        let Some(start) = self.step.starts.pop() else { return };
        if let Some(row) =
            self.step.ticks.iter_mut().rev().find(|row| row.workflow.as_ref() == Some(&start.id))
        {
            row.outcome = TickOutcome::Skipped;
            row.reason = Some(SUPERSEDED.to_owned());
            row.workflow = None;
        }
        self.runs -= 1;
        self.step.runs_added -= 1;
        self.step.skipped_added += 1;
        self.step.state.last_workflow = self.record.state.last_workflow.clone();
    }

    /// Skips the tick at `nominal_ms`, in the same history row as the
    /// previous one if that was skipped for the same reason.
    fn skip(&mut self, nominal_ms: i64, reason: &str) {
        self.skip_run(nominal_ms, nominal_ms, 1, reason);
    }

    /// Skips `count` ticks from `first_ms` to `last_ms`, in the same
    /// history row as the previous ones if those were skipped for the same
    /// reason.
    fn skip_run(&mut self, first_ms: i64, last_ms: i64, count: i64, reason: &str) {
        self.step.skipped_added += count;
        if let Some(last) = self.step.ticks.last_mut()
            && last.outcome == TickOutcome::Skipped
            && last.reason.as_deref() == Some(reason)
        {
            last.last_nominal_ms = last_ms;
            last.count += count;
            return;
        }
        self.record_tick(first_ms, TickOutcome::Skipped, Some(reason.to_owned()), None);
        if let Some(row) = self.step.ticks.last_mut() {
            row.last_nominal_ms = last_ms;
            row.count = count;
        }
    }

    fn record_tick(
        &mut self,
        nominal_ms: i64,
        outcome: TickOutcome,
        reason: Option<String>,
        workflow: Option<WorkflowId>,
    ) {
        self.step.ticks.push(TickRecord {
            nominal_ms,
            last_nominal_ms: nominal_ms,
            count: 1,
            outcome,
            reason,
            workflow,
            at_ms: self.now_ms,
        });
    }

    /// Whether the schedule has no tick at `nominal_ms` or later: past its
    /// end time, or its run count reached.
    fn ended_by(&self, nominal_ms: i64) -> bool {
        let definition = &self.record.definition;
        definition.end_at_ms.is_some_and(|end| nominal_ms > end)
            || definition.max_runs.is_some_and(|max| self.runs >= max)
    }
}

/// Handles `record`'s ticks due by `now_ms`: `previous_open` says whether
/// the workflow it started last is still open, and `component` is its
/// component's digest now (or why it cannot start).
pub(super) fn due(
    record: &ScheduleRecord,
    ticks: &Ticks,
    now_ms: i64,
    previous_open: bool,
    component: &Result<ComponentDigest, String>,
) -> ScheduleStep {
    let mut planner = Planner::new(record, component, previous_open, now_ms);
    if record.state.paused {
        return planner.step;
    }
    // A buffered tick starts once the previous workflow has ended.
    if let Some(buffered) = record.state.buffered_ms
        && !planner.open
    {
        planner.step.state.buffered_ms = None;
        planner.start(buffered, TickOutcome::Started);
    }
    let definition = &record.definition;
    let mut handled = 0;
    while let Some(tick) = planner.step.state.next_tick_ms.filter(|tick| *tick <= now_ms) {
        if handled == MAX_TICKS_PER_STEP || planner.step.starts.len() == MAX_STARTS_PER_STEP {
            break;
        }
        handled += 1;
        if planner.ended_by(tick) {
            planner.step.state.next_tick_ms = None;
            break;
        }
        if tick < now_ms.saturating_sub(definition.catchup_window_ms) {
            planner.skip(tick, MISSED);
        } else if !planner.open || definition.overlap == OverlapPolicy::AllowAll {
            planner.start(tick, TickOutcome::Started);
        } else {
            match definition.overlap {
                OverlapPolicy::Skip | OverlapPolicy::AllowAll => planner.skip(tick, OVERLAP),
                OverlapPolicy::BufferOne | OverlapPolicy::CancelOther => {
                    if planner.step.state.buffered_ms.is_some() {
                        planner.skip(tick, BUFFER_FULL);
                    } else {
                        planner.step.state.buffered_ms = Some(tick);
                        planner.record_tick(tick, TickOutcome::Buffered, None, None);
                        if definition.overlap == OverlapPolicy::CancelOther {
                            // The open one: the previous, or one this step
                            // started (the store cancels it after the start).
                            planner.step.stop = planner
                                .step
                                .state
                                .last_workflow
                                .clone()
                                .map(|workflow| StopWorkflow { workflow, terminate: false });
                        }
                    }
                }
                OverlapPolicy::TerminateOther => {
                    if planner.step.starts.is_empty() {
                        let previous = planner.step.state.last_workflow.clone();
                        if planner.start(tick, TickOutcome::Started) {
                            planner.step.stop =
                                previous.map(|workflow| StopWorkflow { workflow, terminate: true });
                        }
                    } else {
                        // A workflow this step started would be terminated
                        // at once: the later tick starts in its place.
                        planner.supersede_last_start();
                        planner.start(tick, TickOutcome::Started);
                    }
                }
            }
        }
        planner.step.state.next_tick_ms = ticks.next_after(tick);
    }
    if planner.step.state.next_tick_ms.is_some_and(|tick| planner.ended_by(tick)) {
        planner.step.state.next_tick_ms = None;
    }
    let next = planner.step.state.next_tick_ms;
    planner.step.state.due_at_ms = match planner.step.state.buffered_ms {
        _ if next.is_some_and(|tick| tick <= now_ms) => Some(now_ms),
        Some(_) => {
            let recheck = now_ms.saturating_add(BUFFER_RECHECK_MS);
            Some(next.map_or(recheck, |tick| tick.min(recheck)))
        }
        None => next,
    };
    planner.step
}

/// Starts a workflow for `record` now, by hand, whatever its spec, pause
/// and overlap policy say; its ticks are left as they are.
pub(super) fn trigger(
    record: &ScheduleRecord,
    now_ms: i64,
    component: &Result<ComponentDigest, String>,
) -> ScheduleStep {
    let mut planner = Planner::new(record, component, false, now_ms);
    planner.start(now_ms, TickOutcome::Triggered);
    planner.step
}

/// Pauses (`paused`) or resumes `record` with `note`. On resuming, the ticks
/// that fell while it was paused are skipped, counted in one history row
/// (an interval's all at once, a cron expression's up to
/// [`MAX_PAUSED_TICKS`]), and it goes on from the first tick after
/// `now_ms`.
pub(super) fn set_paused(
    record: &ScheduleRecord,
    ticks: &Ticks,
    now_ms: i64,
    paused: bool,
    note: Option<String>,
) -> ScheduleStep {
    // A pause or resume starts nothing, so it needs no component.
    let no_start = Err(String::new());
    let mut planner = Planner::new(record, &no_start, false, now_ms);
    planner.step.state.paused = paused;
    planner.step.state.note = note;
    if paused {
        planner.step.state.due_at_ms = None;
        return planner.step;
    }
    if !record.state.paused {
        return planner.step;
    }
    if let (Ticks::Interval { every_ms, .. }, Some(first)) =
        (ticks, planner.step.state.next_tick_ms.filter(|tick| *tick <= now_ms))
    {
        // An interval's ticks are counted, not walked: a pause of a day
        // over a schedule of every second is one division.
        let until = record.definition.end_at_ms.map_or(now_ms, |end| end.min(now_ms));
        if until >= first {
            let count = (until - first) / every_ms + 1;
            planner.skip_run(first, first + (count - 1) * every_ms, count, PAUSED);
        }
    } else {
        let mut counted = 0;
        while let Some(tick) = planner.step.state.next_tick_ms.filter(|tick| *tick <= now_ms) {
            if planner.ended_by(tick) || counted == MAX_PAUSED_TICKS {
                break;
            }
            counted += 1;
            planner.skip(tick, PAUSED);
            planner.step.state.next_tick_ms = ticks.next_after(tick);
        }
    }
    if planner.step.state.next_tick_ms.is_some_and(|tick| tick <= now_ms) {
        planner.step.state.next_tick_ms = ticks.next_after(now_ms);
    }
    if planner.step.state.next_tick_ms.is_some_and(|tick| planner.ended_by(tick)) {
        planner.step.state.next_tick_ms = None;
    }
    planner.step.state.due_at_ms = match planner.step.state.buffered_ms {
        Some(_) => Some(now_ms),
        None => planner.step.state.next_tick_ms,
    };
    planner.step
}

/// Most ticks of a cron expression that fell during a pause that are
/// counted one by one (an interval's are counted at once); past
/// them the schedule jumps to the first tick after the resume.
const MAX_PAUSED_TICKS: usize = 100_000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{ScheduleDefinition, ScheduleSpec, ScheduleState};

    const SECOND: i64 = 1_000;

    fn schedule(overlap: OverlapPolicy) -> ScheduleRecord {
        ScheduleRecord {
            id: "s".into(),
            definition: ScheduleDefinition {
                component: "c".into(),
                input: "null".into(),
                spec: ScheduleSpec::Interval { every_ms: SECOND, phase_ms: 0 },
                overlap,
                catchup_window_ms: 60 * SECOND,
                end_at_ms: None,
                max_runs: None,
            },
            state: ScheduleState {
                paused: false,
                note: None,
                next_tick_ms: Some(10 * SECOND),
                due_at_ms: Some(10 * SECOND),
                buffered_ms: None,
                last_workflow: Some(WorkflowId::from_stored("s:previous".into())),
            },
            runs: 0,
            skipped: 0,
            revision: 7,
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    fn ticks() -> Ticks {
        Ticks::Interval { every_ms: SECOND, phase_ms: 0 }
    }

    fn stop(workflow: &str, terminate: bool) -> StopWorkflow {
        StopWorkflow { workflow: WorkflowId::from_stored(workflow.into()), terminate }
    }

    fn component() -> Result<ComponentDigest, String> {
        Ok(ComponentDigest::from_stored("sha256:c".into()))
    }

    /// `(outcome, first tick s, count, reason)` of each history row.
    fn history(step: &ScheduleStep) -> Vec<(&'static str, i64, i64, Option<&str>)> {
        step.ticks
            .iter()
            .map(|t| (t.outcome.as_str(), t.nominal_ms / SECOND, t.count, t.reason.as_deref()))
            .collect()
    }

    #[test]
    fn each_due_tick_starts_one_workflow_named_by_its_time() {
        let plan = due(&schedule(OverlapPolicy::AllowAll), &ticks(), 12 * SECOND + 500, true, &component());
        let ids: Vec<&str> = plan.starts.iter().map(|start| start.id.as_str()).collect();
        assert_eq!(ids, ["s:1970-01-01T00:00:10Z", "s:1970-01-01T00:00:11Z", "s:1970-01-01T00:00:12Z"]);
        assert_eq!(
            plan.starts[1].scheduled_by,
            Some(ScheduledBy { schedule: "s".into(), nominal_ms: 11 * SECOND })
        );
        assert_eq!(
            (plan.runs_added, plan.state.next_tick_ms, plan.state.due_at_ms),
            (3, Some(13 * SECOND), Some(13 * SECOND))
        );
        assert_eq!(plan.expected_revision, 7);
        assert!(plan.stop.is_none());
    }

    #[test]
    fn skip_starts_only_when_the_previous_workflow_has_ended() {
        let open = due(&schedule(OverlapPolicy::Skip), &ticks(), 12 * SECOND, true, &component());
        assert!(open.starts.is_empty());
        assert_eq!(history(&open), [("skipped", 10, 3, Some(OVERLAP))]);
        let ended = due(&schedule(OverlapPolicy::Skip), &ticks(), 12 * SECOND, false, &component());
        // The first tick starts one; the next two overlap it.
        assert_eq!(history(&ended), [("started", 10, 1, None), ("skipped", 11, 2, Some(OVERLAP))]);
    }

    #[test]
    fn buffer_one_holds_one_tick_and_starts_it_once_the_previous_ends() {
        let record = schedule(OverlapPolicy::BufferOne);
        let plan = due(&record, &ticks(), 12 * SECOND, true, &component());
        assert_eq!(history(&plan), [("buffered", 10, 1, None), ("skipped", 11, 2, Some(BUFFER_FULL))]);
        assert_eq!(plan.state.buffered_ms, Some(10 * SECOND));
        // Looked at again soon, before the next tick.
        assert_eq!(plan.state.due_at_ms, Some(12 * SECOND + BUFFER_RECHECK_MS));
        let held = ScheduleRecord {
            state: ScheduleState {
                buffered_ms: Some(10 * SECOND),
                next_tick_ms: Some(13 * SECOND),
                ..record.state.clone()
            },
            ..record
        };
        let later = due(&held, &ticks(), 12 * SECOND + 700, false, &component());
        assert_eq!(history(&later), [("started", 10, 1, None)]);
        assert_eq!((later.state.buffered_ms, later.state.due_at_ms), (None, Some(13 * SECOND)));
    }

    #[test]
    fn cancel_other_and_terminate_other_stop_the_previous_workflow() {
        let cancel = due(&schedule(OverlapPolicy::CancelOther), &ticks(), 10 * SECOND, true, &component());
        assert_eq!(cancel.stop, Some(stop("s:previous", false)));
        assert_eq!(history(&cancel), [("buffered", 10, 1, None)]);
        let terminate =
            due(&schedule(OverlapPolicy::TerminateOther), &ticks(), 10 * SECOND, true, &component());
        assert_eq!(terminate.stop, Some(stop("s:previous", true)));
        assert_eq!(history(&terminate), [("started", 10, 1, None)]);
    }

    #[test]
    fn terminate_other_starts_only_the_last_of_several_due_ticks() {
        let plan = due(&schedule(OverlapPolicy::TerminateOther), &ticks(), 12 * SECOND, true, &component());
        assert_eq!(
            history(&plan),
            [
                ("skipped", 10, 1, Some(SUPERSEDED)),
                ("skipped", 11, 1, Some(SUPERSEDED)),
                ("started", 12, 1, None)
            ]
        );
        let ids: Vec<&str> = plan.starts.iter().map(|start| start.id.as_str()).collect();
        assert_eq!(ids, ["s:1970-01-01T00:00:12Z"]);
        // The workflow open before the step is the one terminated.
        assert_eq!(plan.stop, Some(stop("s:previous", true)));
        assert_eq!((plan.runs_added, plan.skipped_added), (1, 2));
        // A component that cannot start terminates nothing.
        let gone = Err("gone".to_owned());
        let plan = due(&schedule(OverlapPolicy::TerminateOther), &ticks(), 10 * SECOND, true, &gone);
        assert_eq!(plan.stop, None);
    }

    #[test]
    fn cancel_other_cancels_the_workflow_its_buffered_tick_just_started() {
        let record = schedule(OverlapPolicy::CancelOther);
        let held = ScheduleRecord {
            state: ScheduleState { buffered_ms: Some(9 * SECOND), ..record.state.clone() },
            ..record
        };
        // The previous one has ended: the buffered tick starts, and the due
        // tick waits behind it, which is asked to cancel in the same step.
        let plan = due(&held, &ticks(), 10 * SECOND, false, &component());
        assert_eq!(history(&plan), [("started", 9, 1, None), ("buffered", 10, 1, None)]);
        assert_eq!(plan.stop, Some(stop("s:1970-01-01T00:00:09Z", false)));
    }

    #[test]
    fn a_step_starts_at_most_64_workflows_and_stays_due() {
        let record = schedule(OverlapPolicy::AllowAll);
        let record = ScheduleRecord {
            definition: ScheduleDefinition { catchup_window_ms: 1_000 * SECOND, ..record.definition.clone() },
            ..record
        };
        let plan = due(&record, &ticks(), 200 * SECOND, false, &component());
        assert_eq!(plan.starts.len(), MAX_STARTS_PER_STEP);
        assert_eq!(plan.state.next_tick_ms, Some(74 * SECOND));
        assert_eq!(plan.state.due_at_ms, Some(200 * SECOND), "due again at once");
    }

    #[test]
    fn a_start_whose_id_is_taken_is_recorded_as_skipped() {
        let plan = due(&schedule(OverlapPolicy::AllowAll), &ticks(), 11 * SECOND, false, &component());
        let taken = [WorkflowId::from_stored("s:1970-01-01T00:00:11Z".into())];
        let step = plan.without_taken(&taken);
        assert_eq!(
            history(&step)[1],
            ("skipped", 11, 1, Some("id taken: a workflow not started by this tick has its id"))
        );
        assert_eq!((step.runs_added, step.skipped_added, step.starts.len()), (1, 1, 1));
        assert_eq!(step.state.last_workflow, Some(WorkflowId::from_stored("s:1970-01-01T00:00:10Z".into())));
    }

    #[test]
    fn ticks_later_than_the_catch_up_window_are_skipped_and_counted() {
        let record = schedule(OverlapPolicy::AllowAll);
        let record = ScheduleRecord {
            definition: ScheduleDefinition { catchup_window_ms: 2 * SECOND, ..record.definition.clone() },
            ..record
        };
        let plan = due(&record, &ticks(), 15 * SECOND, false, &component());
        assert_eq!(
            history(&plan),
            [
                ("skipped", 10, 3, Some(MISSED)),
                ("started", 13, 1, None),
                ("started", 14, 1, None),
                ("started", 15, 1, None)
            ]
        );
        assert_eq!(plan.skipped_added, 3);
    }

    #[test]
    fn a_run_count_or_an_end_time_ends_the_schedule() {
        let record = schedule(OverlapPolicy::AllowAll);
        let counted = ScheduleRecord {
            definition: ScheduleDefinition { max_runs: Some(2), ..record.definition.clone() },
            ..record.clone()
        };
        let plan = due(&counted, &ticks(), 20 * SECOND, false, &component());
        assert_eq!(plan.starts.len(), 2);
        assert_eq!((plan.state.next_tick_ms, plan.state.due_at_ms), (None, None));
        let ending = ScheduleRecord {
            definition: ScheduleDefinition { end_at_ms: Some(11 * SECOND), ..record.definition.clone() },
            ..record
        };
        let plan = due(&ending, &ticks(), 20 * SECOND, false, &component());
        assert_eq!(plan.starts.len(), 2);
        assert_eq!(plan.state.next_tick_ms, None);
    }

    #[test]
    fn a_component_that_cannot_start_skips_the_tick_with_the_reason() {
        let gone = Err("no component has digest or name \"c\"".to_owned());
        let plan = due(&schedule(OverlapPolicy::Skip), &ticks(), 10 * SECOND, false, &gone);
        assert_eq!(history(&plan), [("skipped", 10, 1, Some("no component has digest or name \"c\""))]);
        assert_eq!(plan.state.last_workflow, Some(WorkflowId::from_stored("s:previous".into())));
    }

    #[test]
    fn a_pause_skips_the_ticks_it_covers_and_a_resume_goes_on_after_now() {
        let record = schedule(OverlapPolicy::Skip);
        let paused = set_paused(&record, &ticks(), 10 * SECOND, true, Some("deploy".into()));
        assert_eq!(
            (paused.state.paused, paused.state.due_at_ms, paused.state.note.as_deref()),
            (true, None, Some("deploy"))
        );
        let record = ScheduleRecord {
            state: ScheduleState { paused: true, due_at_ms: None, ..record.state.clone() },
            ..record
        };
        assert!(due(&record, &ticks(), 20 * SECOND, false, &component()).starts.is_empty());
        let resumed = set_paused(&record, &ticks(), 14 * SECOND + 300, false, None);
        assert_eq!(history(&resumed), [("skipped", 10, 5, Some(PAUSED))]);
        assert_eq!(
            (resumed.state.next_tick_ms, resumed.state.due_at_ms),
            (Some(15 * SECOND), Some(15 * SECOND))
        );
        // A day later: 86,391 ticks, counted in one row.
        let day = set_paused(&record, &ticks(), 86_400 * SECOND, false, None);
        assert_eq!(history(&day), [("skipped", 10, 86_391, Some(PAUSED))]);
        assert_eq!((day.skipped_added, day.state.next_tick_ms), (86_391, Some(86_401 * SECOND)));
    }

    #[test]
    fn a_trigger_starts_now_and_leaves_the_ticks_alone() {
        let record = schedule(OverlapPolicy::Skip);
        let step = trigger(&record, 12_345, &component());
        assert_eq!(step.starts[0].id.as_str(), "s:1970-01-01T00:00:12.345Z");
        assert_eq!(history(&step), [("triggered", 12, 1, None)]);
        assert_eq!((step.state.next_tick_ms, step.runs_added), (record.state.next_tick_ms, 0));
    }
}

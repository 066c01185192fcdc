//! The API client behind `duro schedule`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, text};

/// What `duro schedule create` sends: everything but the id and component
/// is optional, and the spec is `cron` (with a time zone) or `every` (with
/// a phase).
#[derive(Debug, Default)]
pub(in crate::cli) struct NewSchedule {
    /// Schedule id.
    pub id: String,
    /// Digest or name of the component.
    pub component: String,
    /// Input, JSON text.
    pub input: String,
    /// Cron expression.
    pub cron: Option<String>,
    /// Its IANA time zone.
    pub time_zone: Option<String>,
    /// Interval.
    pub every: Option<Duration>,
    /// Offset of the interval's ticks.
    pub phase: Option<Duration>,
    /// Overlap policy name.
    pub overlap: Option<String>,
    /// Catch-up window.
    pub catchup_window: Option<Duration>,
    /// RFC 3339 end time.
    pub end_at: Option<String>,
    /// Run count.
    pub max_runs: Option<i64>,
    /// Create it paused.
    pub paused: bool,
    /// Note.
    pub note: Option<String>,
}

impl Client {
    pub(in crate::cli) async fn create_schedule(&self, new: NewSchedule) -> anyhow::Result<()> {
        let input: Value = serde_json::from_str(&new.input).context("--input is not valid JSON")?;
        let mut body =
            json!({ "id": new.id, "component": new.component, "input": input, "paused": new.paused });
        let fields = [
            ("cron", new.cron.map(Value::from)),
            ("time_zone", new.time_zone.map(Value::from)),
            ("interval_s", new.every.map(|every| every.as_secs_f64().into())),
            ("phase_s", new.phase.map(|phase| phase.as_secs_f64().into())),
            ("overlap", new.overlap.map(Value::from)),
            ("catchup_window_s", new.catchup_window.map(|window| window.as_secs_f64().into())),
            ("end_at", new.end_at.map(Value::from)),
            ("max_runs", new.max_runs.map(Value::from)),
            ("note", new.note.map(Value::from)),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                body[key] = value;
            }
        }
        let (status, schedule) = self.send(self.request(Method::POST, "/v1/schedules").json(&body)).await?;
        if !self.print_json(&schedule)? {
            let verb = if status == reqwest::StatusCode::CREATED { "created" } else { "exists:" };
            say!("schedule {} {verb} next tick {}", text(&schedule["id"]), text(&schedule["next_tick_at"]));
        }
        Ok(())
    }

    pub(in crate::cli) async fn list_schedules(&self) -> anyhow::Result<()> {
        self.print_list(self.request(Method::GET, "/v1/schedules"), "schedules", |schedule| {
            let state = if schedule["paused"] == true { "paused" } else { "active" };
            format!(
                "{}  {:<6}  {}  next {}  runs {}  skipped {}",
                text(&schedule["id"]),
                state,
                spec_text(&schedule["spec"]),
                text(&schedule["next_tick_at"]),
                schedule["runs"],
                schedule["skipped"]
            )
        })
        .await
    }

    pub(in crate::cli) async fn get_schedule(&self, id: &str) -> anyhow::Result<()> {
        let (_, schedule) = self.send(self.request(Method::GET, &format!("/v1/schedules/{id}"))).await?;
        if self.print_json(&schedule)? {
            return Ok(());
        }
        say!("{:<12} {}", "id", text(&schedule["id"]));
        say!("{:<12} {}", "component", text(&schedule["component"]));
        say!("{:<12} {}", "spec", spec_text(&schedule["spec"]));
        say!("{:<12} {}", "overlap", text(&schedule["overlap"]));
        say!("{:<12} {} s", "catch-up", schedule["catchup_window_s"]);
        let state = if schedule["paused"] == true { "paused" } else { "active" };
        match schedule["note"].as_str() {
            Some(note) => say!("{:<12} {state} ({note})", "state"),
            None => say!("{:<12} {state}", "state"),
        }
        say!("{:<12} {} started, {} skipped", "ticks", schedule["runs"], schedule["skipped"]);
        for at in schedule["upcoming"].as_array().into_iter().flatten() {
            say!("{:<12} {}", "next", text(at));
        }
        for run in schedule["recent_runs"].as_array().into_iter().flatten() {
            let how = if run["triggered"] == true { " (triggered)" } else { "" };
            say!(
                "{:<12} {}  {}  {}{how}",
                "ran",
                text(&run["nominal_time"]),
                text(&run["workflow"]),
                text(&run["status"])
            );
        }
        for skipped in schedule["skipped_ticks"].as_array().into_iter().flatten() {
            say!(
                "{:<12} {} to {} ({}): {}",
                "skipped",
                text(&skipped["first_nominal_time"]),
                text(&skipped["last_nominal_time"]),
                skipped["count"],
                text(&skipped["reason"])
            );
        }
        Ok(())
    }

    /// Pauses (`pause`) or resumes the schedule `id`, with `note`.
    pub(in crate::cli) async fn pause_schedule(
        &self,
        id: &str,
        pause: bool,
        note: Option<&str>,
    ) -> anyhow::Result<()> {
        let verb = if pause { "pause" } else { "resume" };
        let request =
            self.request(Method::POST, &format!("/v1/schedules/{id}/{verb}")).json(&json!({ "note": note }));
        let (_, schedule) = self.send(request).await?;
        if !self.print_json(&schedule)? {
            let state = if schedule["paused"] == true { "paused" } else { "active" };
            say!("schedule {id} {state}; next tick {}", text(&schedule["next_tick_at"]));
        }
        Ok(())
    }

    pub(in crate::cli) async fn trigger_schedule(&self, id: &str) -> anyhow::Result<()> {
        let (_, workflow) =
            self.send(self.request(Method::POST, &format!("/v1/schedules/{id}/trigger"))).await?;
        if !self.print_json(&workflow)? {
            say!("started workflow {}", text(&workflow["id"]));
        }
        Ok(())
    }
}

/// `cron "0 2 * * *" in Europe/Paris` or `every 300 s (phase 0 s)`.
fn spec_text(spec: &Value) -> String {
    match spec["cron"].as_str() {
        Some(cron) => format!("cron {cron:?} in {}", text(&spec["time_zone"])),
        None => format!("every {} s (phase {} s)", spec["interval_s"], spec["phase_s"]),
    }
}

//! The API client behind `duro schedule`.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use reqwest::Method;
use serde_json::{Value, json};

use super::{Client, text};

/// What `duro schedule create` sends: everything but the id and component
/// is optional, and the spec is `--cron` (in `--time-zone`) or `--every`
/// (with `--phase`).
#[derive(Debug, clap::Args)]
pub(in crate::cli) struct NewSchedule {
    /// Schedule id (its workflows' ids are `<id>:<tick time>`).
    id: String,
    /// Digest or name of the workflow component (a name is resolved at each
    /// tick).
    #[arg(long)]
    component: String,
    /// Input of every workflow, as JSON text.
    #[arg(long, default_value = "null")]
    input: String,
    /// Cron expression: 5 fields, or 6 with seconds first.
    #[arg(long, conflicts_with = "every", required_unless_present = "every")]
    cron: Option<String>,
    /// IANA time zone of --cron (default UTC).
    #[arg(long, requires = "cron")]
    time_zone: Option<String>,
    /// Interval between ticks, e.g. 30s, 5m, 1h.
    #[arg(long, value_parser = humantime::parse_duration)]
    every: Option<Duration>,
    /// Offset of the interval's ticks from each multiple of it.
    #[arg(long, requires = "every", value_parser = humantime::parse_duration)]
    phase: Option<Duration>,
    /// skip (default), buffer_one, allow_all, cancel_other or
    /// terminate_other: what a tick does while the previous workflow runs.
    #[arg(long)]
    overlap: Option<String>,
    /// How late a missed tick may still run (default 60s).
    #[arg(long, value_parser = humantime::parse_duration)]
    catchup_window: Option<Duration>,
    /// No tick after this RFC 3339 time.
    #[arg(long)]
    end_at: Option<String>,
    /// No tick after this many workflows started.
    #[arg(long)]
    max_runs: Option<i64>,
    /// Create it paused.
    #[arg(long)]
    paused: bool,
    /// A note for people.
    #[arg(long)]
    note: Option<String>,
}

impl Client {
    pub(in crate::cli) async fn create_schedule(&self, new: NewSchedule) -> anyhow::Result<()> {
        let input: Value = serde_json::from_str(&new.input).context("--input is not valid JSON")?;
        let spec = match new.cron {
            Some(cron) => json!({ "cron": cron, "time_zone": new.time_zone }),
            None => json!({
                "interval_s": new.every.unwrap_or_default().as_secs_f64(),
                "phase_s": new.phase.map(|phase| phase.as_secs_f64()),
            }),
        };
        let mut body = json!({ "id": new.id, "component": new.component, "input": input, "spec": spec, "paused": new.paused });
        let fields = [
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

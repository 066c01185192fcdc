//! The `duro` command line: `serve` runs the host and `new` writes a new
//! project; every other command is a client of the HTTP API (`--server` or
//! `DURO_SERVER`).
//!
//! Output is for people by default and the API's JSON with `--json`. Errors
//! (with `anyhow` context, which lives only in this layer) go to stderr with
//! exit status 1; bad arguments exit with 2 (clap).

mod client;
mod effects;
mod limits;
mod scaffold;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::api;

/// duro: a durable workflow host for WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "duro", version)]
struct Cli {
    /// Address of the duro server the client commands talk to.
    #[arg(long, global = true, env = "DURO_SERVER", default_value = "http://127.0.0.1:7070")]
    server: String,
    /// API token sent as `Authorization: Bearer TOKEN` (needed when the
    /// server has `--auth-tokens`).
    #[arg(long, global = true, env = "DURO_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the API's JSON instead of human-readable text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the host: the HTTP API and the workflow scheduler.
    Serve(Box<serve::ServeArgs>),
    /// Upload and list workflow components.
    #[command(subcommand)]
    Component(ComponentCommand),
    /// Start and inspect workflows.
    #[command(subcommand)]
    Workflow(WorkflowCommand),
    /// Start workflows on a cron expression or an interval.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Replay a workflow's journal against a component and report whether it
    /// replays cleanly or where it diverges; changes nothing. Exits 1 when
    /// it does not replay, so it can gate a deployment.
    Replay {
        /// Workflow id.
        id: String,
        /// The component: a .wasm file (compiled for the check, not stored),
        /// or a stored component's digest or name.
        #[arg(long)]
        component: String,
    },
    /// Make API tokens for `duro serve --auth-tokens`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Create a new project in ./NAME that builds to a component with one
    /// command and has a test: a workflow in Rust, Python or JavaScript, or
    /// an activity in Rust.
    New(scaffold::NewArgs),
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Print a new random token, and the line that grants it ROLE in a
    /// token file (holding only its SHA-256 digest).
    New {
        /// reader, operator, deployer or admin.
        #[arg(long)]
        role: api::auth::Role,
        /// Name of the token in the server's logs.
        #[arg(long, default_value = "token")]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum ComponentCommand {
    /// Upload a component (.wasm) built for the duro:workflow/workflow world.
    Push {
        /// Path of the component file.
        file: PathBuf,
        /// Name to point at the component (the latest push of a name wins).
        #[arg(long)]
        name: Option<String>,
    },
    /// List stored components.
    List,
    /// Delete a component no workflow runs.
    Delete {
        /// The component's digest (`sha256:…`).
        digest: String,
    },
    /// List the versions pushed under a name, current first.
    Versions {
        /// Component name.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
enum WorkflowCommand {
    /// Start a workflow.
    Start {
        /// Digest or name of the component to run.
        component: String,
        /// Input as JSON text.
        #[arg(long, default_value = "null")]
        input: String,
        /// Workflow id (also the idempotency key of the start).
        #[arg(long)]
        id: Option<String>,
        /// Wait for the workflow to finish and print its result.
        #[arg(long)]
        wait: bool,
        /// Execution timeout in seconds: the workflow is cancelled when it
        /// passes, and terminated if it has not ended after a grace period.
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// Send a signal to a workflow.
    Signal {
        /// Workflow id.
        id: String,
        /// Signal name.
        name: String,
        /// Payload as JSON text.
        #[arg(default_value = "null")]
        payload: String,
        /// Idempotency key: a repeated send with the same key delivers once.
        #[arg(long)]
        key: Option<String>,
    },
    /// Cancel a workflow: its current or next wait is told, so it can
    /// compensate; with --force, terminate it at once.
    Cancel {
        /// Workflow id.
        id: String,
        /// Terminate without the workflow's cooperation.
        #[arg(long)]
        force: bool,
    },
    /// Show a durable event a workflow set, waiting up to --wait seconds for
    /// its first value.
    Event {
        /// Workflow id.
        id: String,
        /// Event key.
        key: String,
        /// Seconds to wait for a first value.
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
    },
    /// Move a running, waiting or stuck workflow to another component, if
    /// its journal replays cleanly on it; a stuck workflow then runs again.
    Upgrade {
        /// Workflow id.
        id: String,
        /// The component: a .wasm file (pushed first, without a name), or a
        /// stored component's digest or name.
        component: String,
    },
    /// Delete a workflow that has ended, with its journal, logs, signals
    /// and events.
    Delete {
        /// Workflow id.
        id: String,
    },
    /// Show one workflow.
    Get {
        /// Workflow id.
        id: String,
    },
    /// List workflows, newest first.
    List {
        /// Only workflows with this status.
        #[arg(long)]
        status: Option<String>,
        /// Only workflows of this component (digest or name).
        #[arg(long)]
        component: Option<String>,
        /// Only workflows this schedule started.
        #[arg(long)]
        schedule: Option<String>,
        /// Most workflows to show.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show a workflow's journal.
    Journal {
        /// Workflow id.
        id: String,
    },
    /// Show a workflow's log.
    Logs {
        /// Workflow id.
        id: String,
    },
    /// Show a workflow's result, waiting up to --wait seconds for it.
    Result {
        /// Workflow id.
        id: String,
        /// Seconds to wait for the workflow to finish.
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
    },
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Create a schedule: a cron expression (--cron, in --time-zone) or an
    /// interval (--every, with --phase), starting COMPONENT once per tick.
    Create(Box<client::NewSchedule>),
    /// List schedules.
    List,
    /// Show a schedule: its next ticks, recent runs and skipped ticks.
    Get {
        /// Schedule id.
        id: String,
    },
    /// Pause a schedule.
    Pause {
        /// Schedule id.
        id: String,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
    /// Resume a paused schedule.
    Resume {
        /// Schedule id.
        id: String,
        /// Why.
        #[arg(long)]
        note: Option<String>,
    },
    /// Start a workflow of a schedule now.
    Trigger {
        /// Schedule id.
        id: String,
    },
    /// Delete a schedule (its workflows stay).
    Delete {
        /// Schedule id.
        id: String,
    },
}

async fn schedule(client: &client::Client, command: ScheduleCommand) -> anyhow::Result<()> {
    match command {
        ScheduleCommand::Create(new) => client.create_schedule(*new).await,
        ScheduleCommand::List => client.list_schedules().await,
        ScheduleCommand::Get { id } => client.get_schedule(&id).await,
        ScheduleCommand::Pause { id, note } => client.pause_schedule(&id, true, note.as_deref()).await,
        ScheduleCommand::Resume { id, note } => client.pause_schedule(&id, false, note.as_deref()).await,
        ScheduleCommand::Trigger { id } => client.trigger_schedule(&id).await,
        ScheduleCommand::Delete { id } => {
            client.delete(&format!("/v1/schedules/{id}"), &format!("schedule {id}")).await
        }
    }
}

/// Runs the command line; the process's exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // A component still compiling on a blocking thread must not hold the
    // exit back: shutdown is bounded.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`duro workflow list | head`): nothing to report.
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `duro token new`: a token of 32 random bytes (URL-safe base64, 43
/// characters) on the first line, then the token file line for it.
fn new_token(role: api::auth::Role, name: &str) -> anyhow::Result<()> {
    use base64::Engine as _;
    use std::io::Write as _;
    anyhow::ensure!(
        !name.is_empty() && !name.contains(char::is_whitespace),
        "a token name is one word: {name:?}"
    );
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|error| anyhow::anyhow!("cannot read random bytes: {error}"))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let line = format!("{role} {} {name}", api::auth::token_digest(&token));
    writeln!(std::io::stdout(), "{token}\n{line}")?;
    Ok(())
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let client = client::Client::new(&cli.server, cli.token.as_deref(), cli.json)?;
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Token(TokenCommand::New { role, name }) => new_token(role, &name),
        Command::New(args) => scaffold::run(&args),
        Command::Component(ComponentCommand::Push { file, name }) => {
            client.push_component(&file, name.as_deref()).await
        }
        Command::Component(ComponentCommand::List) => client.list_components().await,
        Command::Component(ComponentCommand::Versions { name }) => client.component_versions(&name).await,
        Command::Replay { id, component } => client.replay(&id, &component).await,
        Command::Workflow(WorkflowCommand::Upgrade { id, component }) => {
            client.upgrade(&id, &component).await
        }
        Command::Workflow(WorkflowCommand::Start { component, input, id, wait, timeout }) => {
            client.start_workflow(&component, &input, id.as_deref(), wait, timeout).await
        }
        Command::Workflow(WorkflowCommand::Signal { id, name, payload, key }) => {
            client.signal(&id, &name, &payload, key.as_deref()).await
        }
        Command::Workflow(WorkflowCommand::Cancel { id, force }) => client.cancel(&id, force).await,
        Command::Workflow(WorkflowCommand::Event { id, key, wait }) => client.event(&id, &key, wait).await,
        Command::Workflow(WorkflowCommand::Get { id }) => client.get_workflow(&id).await,
        Command::Workflow(WorkflowCommand::Delete { id }) => {
            client.delete(&format!("/v1/workflows/{id}"), &format!("workflow {id}")).await
        }
        Command::Component(ComponentCommand::Delete { digest }) => {
            client.delete(&format!("/v1/components/{digest}"), &format!("component {digest}")).await
        }
        Command::Workflow(WorkflowCommand::List { status, component, schedule, limit }) => {
            client.list_workflows(status.as_deref(), component.as_deref(), schedule.as_deref(), limit).await
        }
        Command::Schedule(command) => schedule(&client, command).await,
        Command::Workflow(WorkflowCommand::Journal { id }) => client.journal(&id).await,
        Command::Workflow(WorkflowCommand::Logs { id }) => client.logs(&id).await,
        Command::Workflow(WorkflowCommand::Result { id, wait }) => client.result(&id, wait).await,
    }
}

//! `duro serve`: the host process.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::api::{self, ApiLimits};
use crate::engine::EngineLimits;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store;

/// Options of `duro serve`.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7070")]
    listen: String,
    /// Database: sqlite://PATH (created if missing) or postgres://…
    #[arg(long, env = "DURO_DATABASE", default_value = "sqlite://duro.db")]
    database: String,
    /// Largest component upload, in bytes.
    #[arg(long, default_value_t = ApiLimits::default().max_component_bytes)]
    max_component_bytes: usize,
    /// Largest linear memory of one workflow instance, in MiB.
    #[arg(long, default_value_t = EngineLimits::default().max_memory_bytes >> 20)]
    max_memory_mib: usize,
    /// Most wasm CPU time one activation of a workflow may use, in ms.
    #[arg(long, default_value_t = 10_000)]
    cpu_limit_ms: u64,
    /// Timers due within this many ms wait in memory; longer ones suspend the
    /// workflow until its wake-up time.
    #[arg(long, default_value_t = 1_000)]
    inline_sleep_max_ms: u64,
}

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let store = store::connect(&args.database)
        .await
        .with_context(|| format!("cannot open database {}", redact(&args.database)))?;
    let max_memory_bytes = args
        .max_memory_mib
        .checked_mul(1 << 20)
        .with_context(|| format!("--max-memory-mib {} is too large", args.max_memory_mib))?;
    let config = RuntimeConfig {
        limits: EngineLimits {
            max_memory_bytes,
            cpu_per_activation: Duration::from_millis(args.cpu_limit_ms),
            ..EngineLimits::default()
        },
        inline_sleep_max: Duration::from_millis(args.inline_sleep_max_ms),
    };
    let runtime = Runtime::start(store, config).context("cannot start the runtime")?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr().context("cannot read the listening address")?;
    tracing::info!(%address, database = %redact(&args.database), "duro listening");
    let limits = ApiLimits { max_component_bytes: args.max_component_bytes, ..ApiLimits::default() };
    // On a signal, stop the runtime first so that long polls answer at once
    // and the HTTP server can drain.
    let stopping = runtime.clone();
    axum::serve(listener, api::app(runtime.clone(), limits))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            stopping.begin_shutdown();
        })
        .await
        .context("HTTP server failed")?;
    runtime.shutdown().await;
    tracing::info!("duro stopped");
    Ok(())
}

/// Resolves on ctrl-c or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGTERM; only ctrl-c stops the server");
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down");
}

/// The URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

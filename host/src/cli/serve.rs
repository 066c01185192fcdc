//! `duro serve`: the host process.
//!
//! Any number of `duro serve` processes may share one PostgreSQL database;
//! on SQLite a second one is refused (see
//! [`store::lock_single_host`](crate::store::lock_single_host)).
//!
//! On ctrl-c or SIGTERM it shuts down in a bounded time, at most about 35 s:
//! it begins the runtime's shutdown (long polls answer at once, nothing
//! more is claimed), gives the HTTP server up to [`HTTP_DRAIN_GRACE`] (5 s)
//! to finish the requests in flight, then stops waiting for connections
//! that stay open and shuts the runtime down, which takes up to 10 s for
//! runs to stop, 10 s more to commit what they finished, and 10 s more to
//! release its lease, so other hosts take its workflows over at once.

use std::future::IntoFuture;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio_util::sync::CancellationToken;

use super::effects::EffectArgs;
use super::limits::LimitArgs;
use crate::api::{self, ApiLimits};
use crate::runtime::{DEFAULT_LEASE_TTL, Runtime};
use crate::{store, telemetry};

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
    /// Longest time to answer one API request, in ms; slower ones get 503
    /// `request_timeout`. The result long poll (`?wait=`, at most 300 s) is
    /// bounded separately, by 310 s.
    #[arg(
        long,
        default_value_t = ApiLimits::default().request_timeout.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(1..),
    )]
    request_timeout_ms: u64,
    /// Time to live of this host's lease, in ms: after a host dies, other
    /// hosts on the same PostgreSQL database take its runs over within about
    /// this long. Renewed every fifth of it.
    #[arg(
        long,
        default_value_t = DEFAULT_LEASE_TTL.as_millis() as u64,
        value_parser = clap::value_parser!(u64).range(500..=3_600_000),
    )]
    lease_ttl_ms: u64,
    /// Directory where compiled components are kept across restarts, keyed
    /// by their bytes and the engine's version (wasmtime's cache, trimmed to
    /// 512 MiB). Default: `$XDG_CACHE_HOME/duro`, else `$HOME/.cache/duro`.
    #[arg(long, env = "DURO_COMPILE_CACHE")]
    compile_cache_dir: Option<PathBuf>,
    /// Compile every component anew in each process: no disk cache
    /// (whatever `--compile-cache-dir` or `DURO_COMPILE_CACHE` say).
    #[arg(long)]
    no_compile_cache: bool,
    /// File of API tokens, one `ROLE TOKEN [NAME]` per line (ROLE: reader,
    /// operator, deployer or admin; TOKEN: the token or `sha256:HEX` of it,
    /// as `duro token new` prints). Every API call then needs
    /// `Authorization: Bearer TOKEN`. Read again on SIGHUP.
    #[arg(long, env = "DURO_AUTH_TOKENS")]
    auth_tokens: Option<PathBuf>,
    /// Serve the API with no tokens on an address other hosts can reach.
    /// Anyone who reaches it may then push code and start workflows.
    #[arg(long)]
    insecure_open_api: bool,
    /// With `--auth-tokens`, `/metrics` needs a token too (any role).
    #[arg(long, requires = "auth_tokens")]
    protect_metrics: bool,
    /// Delete ended workflows (completed, failed, cancelled, terminated;
    /// not stuck) with their journals, logs, signals and events this long
    /// after they ended, e.g. `30d`, `12h`. Default: keep them.
    #[arg(long, value_parser = humantime::parse_duration)]
    retention: Option<Duration>,
    /// Log format on stderr: `text` for people, `json` (one object per
    /// line) for log pipelines. Filter with `RUST_LOG` (default `info`).
    #[arg(long, value_enum, default_value = "text")]
    log_format: telemetry::logs::LogFormat,
    /// Limits of workflows and runs.
    #[command(flatten)]
    limits: LimitArgs,
    /// Outbound HTTP policy of workflows.
    #[command(flatten)]
    effects: EffectArgs,
}

/// The compile cache directory `args` ask for, made absolute: the flag, the
/// XDG cache directory, or none (with a warning when no default exists).
fn compile_cache_dir(args: &ServeArgs) -> anyhow::Result<Option<PathBuf>> {
    if args.no_compile_cache {
        return Ok(None);
    }
    let env_dir = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty()).map(PathBuf::from);
    let dir = args
        .compile_cache_dir
        .clone()
        .or_else(|| env_dir("XDG_CACHE_HOME").map(|dir| dir.join("duro")))
        .or_else(|| env_dir("HOME").map(|home| home.join(".cache").join("duro")));
    let Some(dir) = dir else {
        tracing::warn!("neither XDG_CACHE_HOME nor HOME is set: compiled components are not cached on disk");
        return Ok(None);
    };
    Ok(Some(std::path::absolute(&dir).with_context(|| format!("compile cache {}", dir.display()))?))
}

/// Longest time the HTTP server may take, once a shutdown signal arrives, to
/// finish the requests in flight. A client can hold a connection open for as
/// long as it likes, so after this the server is dropped and shutdown goes on.
const HTTP_DRAIN_GRACE: Duration = Duration::from_secs(5);

/// Serves until ctrl-c or SIGTERM, then shuts down within about 25 s (see the
/// module docs).
pub(super) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let traces = telemetry::init(args.log_format).map_err(anyhow::Error::msg)?;
    telemetry::metrics::install().map_err(anyhow::Error::msg)?;
    // Held until the process exits: one host per SQLite file.
    let _single_host = store::lock_single_host(&args.database)?;
    let store = store::connect(&args.database)
        .await
        .with_context(|| format!("cannot open database {}", redact(&args.database)))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr().context("cannot read the listening address")?;
    let access = access(&args, address)?;
    let mut config = args.limits.runtime_config()?;
    config.executor.http = args.effects.http_config()?;
    config.lease_ttl = Duration::from_millis(args.lease_ttl_ms);
    config.host_name = address.to_string();
    config.compile_cache = compile_cache_dir(&args)?;
    if let Some(retention) = args.retention {
        anyhow::ensure!(retention >= Duration::from_secs(1), "--retention must be at least 1s");
        config.retention = Some(retention);
    }
    let runtime = Runtime::start(store, config).context("cannot start the runtime")?;
    tracing::info!(%address, database = %redact(&args.database), "duro listening");
    let limits = ApiLimits {
        max_component_bytes: args.max_component_bytes,
        request_timeout: Duration::from_millis(args.request_timeout_ms),
        ..ApiLimits::default()
    };
    {
        let drain = CancellationToken::new();
        if let Some(tokens) = access.tokens.clone() {
            tokio::spawn(reload_on_sighup(tokens));
        }
        let server = axum::serve(listener, api::app(runtime.clone(), limits, access))
            .with_graceful_shutdown(drain.clone().cancelled_owned())
            .into_future();
        tokio::pin!(server);
        tokio::select! {
            result = &mut server => result.context("HTTP server failed")?,
            () = shutdown_signal() => {
                // Stop the runtime first so that long polls answer at once and
                // the HTTP server can drain; then wait for it, but not for ever.
                runtime.begin_shutdown();
                drain.cancel();
                match tokio::time::timeout(HTTP_DRAIN_GRACE, &mut server).await {
                    Ok(result) => result.context("HTTP server failed")?,
                    Err(_) => tracing::warn!(
                        "HTTP connections still open after {HTTP_DRAIN_GRACE:?}; no longer waiting for them"
                    ),
                }
            }
        }
        // The server future drops here: the listener is closed, and connections
        // still open end with the process.
    }
    runtime.shutdown().await;
    tracing::info!("duro stopped");
    if let Some(traces) = traces {
        // The exporter blocks while it flushes: off the async threads.
        let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
    }
    Ok(())
}

/// How the API is guarded, from `args`: with the token file when one is
/// given. Without one, an address other hosts can reach is refused unless
/// `--insecure-open-api` says so.
fn access(args: &ServeArgs, address: std::net::SocketAddr) -> anyhow::Result<api::Access> {
    let Some(path) = &args.auth_tokens else {
        if !address.ip().is_loopback() && !args.insecure_open_api {
            anyhow::bail!(
                "refusing to serve an open API on {address}, which other hosts can reach: anyone could push code \
                 and start workflows. Give --auth-tokens FILE (see `duro token new`), listen on 127.0.0.1, \
                 or pass --insecure-open-api if something in front of duro guards it"
            );
        }
        if address.ip().is_loopback() {
            tracing::info!("the API is open (no --auth-tokens): only this machine can reach it");
        } else {
            tracing::warn!(%address, "the API is OPEN to every host that reaches {address} (--insecure-open-api)");
        }
        return Ok(api::Access::default());
    };
    let tokens = api::auth::TokenFile::open(path).map_err(anyhow::Error::msg)?;
    tracing::info!(file = %path.display(), "API tokens in force; SIGHUP reads the file again");
    Ok(api::Access { tokens: Some(tokens), protect_metrics: args.protect_metrics })
}

/// Reads the token file again on each SIGHUP; a file that does not parse
/// leaves the tokens in force.
async fn reload_on_sighup(tokens: api::auth::TokenFile) {
    let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => signal,
        Err(error) => {
            tracing::warn!(%error, "cannot watch SIGHUP; the token file is read only at start");
            return;
        }
    };
    while hangup.recv().await.is_some() {
        match tokens.reload() {
            Ok(count) => tracing::info!(file = %tokens.path().display(), count, "API tokens read again"),
            Err(error) => {
                tracing::error!(%error, "API tokens NOT read again; the previous ones stay in force")
            }
        }
    }
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

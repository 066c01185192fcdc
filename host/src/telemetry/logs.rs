//! The host's log: text for people or JSON lines for log pipelines, on
//! stderr, filtered like `RUST_LOG` (tracing-subscriber's `EnvFilter`
//! syntax: `info`, `duro_host::runtime=debug,sqlx=warn`).
//!
//! A run logs inside a `run` span carrying the workflow's id and component
//! digest, so every line a run writes says which workflow it is about: in
//! text as `run{workflow=… component=…}:`, in JSON as the `span` object
//! (and in `spans`, the spans it is nested in).

use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line per event for people, coloured on a terminal.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`
    /// (with `message`), `span` and `spans`.
    Json,
}

/// The log's layer: `format` on stderr, filtered by `RUST_LOG` when set
/// (default `info`).
///
/// # Errors
/// `RUST_LOG` does not parse.
pub(super) fn layer<S>(format: LogFormat) -> Result<Box<dyn Layer<S> + Send + Sync>, String>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => {
            EnvFilter::try_new(&directives).map_err(|error| format!("RUST_LOG={directives:?}: {error}"))?
        }
        _ => EnvFilter::new("info"),
    };
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    Ok(match format {
        LogFormat::Text => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            layer.with_ansi(ansi).with_filter(filter).boxed()
        }
        LogFormat::Json => {
            layer.json().with_current_span(true).with_span_list(true).with_filter(filter).boxed()
        }
    })
}

//! What the host tells its operators: Prometheus metrics ([`metrics`]),
//! its log ([`logs`]) and OpenTelemetry traces ([`traces`]).
//!
//! A leaf, like [`crate::clock`]: every layer records through it, and it
//! depends on none of them. Recording is a no-op until `duro serve`
//! installs the process's recorder and subscriber ([`init`]), so a library
//! user or a test that never installs them pays nothing.

pub mod logs;
pub mod metrics;
pub mod traces;

use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the process's `tracing` subscriber: the log in `format`, and
/// the OTLP exporter of traces if the environment asks for one
/// ([`traces::wanted`]), which gets the host's spans down to `debug` (the
/// spans of each journaled call) whatever `RUST_LOG` says.
///
/// # Errors
/// `RUST_LOG` does not parse, the exporter cannot be built, or a
/// subscriber is installed already.
pub fn init(format: logs::LogFormat) -> Result<Option<traces::Traces>, String> {
    // Two stacks rather than an optional layer: with traces off, the log's
    // filter alone sets the subscriber's maximum level, so `debug` spans
    // and events are disabled at their call sites and cost nothing.
    let installed = if traces::wanted() {
        let (traces, layer) = traces::layer()?;
        let spans = Targets::new().with_target("duro_host", tracing::Level::DEBUG);
        tracing_subscriber::registry()
            .with(layer.with_filter(spans))
            .with(logs::layer(format)?)
            .try_init()
            .map(|()| Some(traces))
    } else {
        tracing_subscriber::registry().with(logs::layer(format)?).try_init().map(|()| None)
    };
    installed.map_err(|error| format!("cannot install the log subscriber: {error}"))
}

//! OpenTelemetry traces, exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`)
//! is set, through `tracing-opentelemetry`: the host's `tracing` spans are
//! the trace's spans.
//!
//! What is traced:
//! - each API request (`http.request`), a child of the caller's span when
//!   the request carries a W3C `traceparent` header;
//! - each run of a workflow (`run`), a child of the span that started the
//!   workflow: the start's `traceparent` is stored with the workflow
//!   ([`current_traceparent`]), so every run, on any host and after any
//!   restart, joins the trace of the request that started it, and a child
//!   workflow joins its parent's run;
//! - inside a run, each journaled call done live (`duro.call`) and each
//!   effect attempt (`duro.http`, `duro.activity`);
//! - each outbound HTTP request carries the `traceparent` of its attempt's
//!   span ([`inject`]), added after the request is journaled, so replay and
//!   idempotency keys never see it.
//!
//! The protocol is `http/protobuf` unless `OTEL_EXPORTER_OTLP_PROTOCOL` is
//! `http/json` (the OTLP specification's variables; gRPC is not built in).
//! `OTEL_SERVICE_NAME` names the service (default `duro`).

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The W3C trace context header.
pub const TRACEPARENT: &str = "traceparent";

/// A running exporter; [`Traces::shutdown`] flushes what is buffered.
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Exports the spans still buffered and stops the exporter.
    pub fn shutdown(&self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "traces not all exported at shutdown");
        }
    }
}

/// Whether the environment asks for traces.
pub fn wanted() -> bool {
    ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()))
}

/// Builds the OTLP exporter the environment describes and the
/// `tracing` layer that feeds it.
///
/// # Errors
/// The exporter cannot be built (an unknown protocol, a bad endpoint).
pub fn layer<S>()
-> Result<(Traces, tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>), String>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Ok("http/json") => Protocol::HttpJson,
        Ok("http/protobuf") | Err(_) => Protocol::HttpBinary,
        Ok(other) => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL={other:?}: duro exports http/protobuf or http/json"
            ));
        }
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|error| format!("cannot set up the OTLP exporter: {error}"))?;
    let service = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| "duro".to_owned());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service).build())
        .build();
    let tracer = provider.tracer("duro");
    Ok((Traces { provider }, tracing_opentelemetry::layer().with_tracer(tracer)))
}

/// The `traceparent` of the current span, if traces are on and it has one.
pub fn current_traceparent() -> Option<String> {
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&tracing::Span::current().context(), &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the span that `traceparent` names (ignored if
/// it does not parse, or when traces are off).
pub fn set_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(traceparent) = traceparent else { return };
    let carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    // A span that no layer records cannot take a parent: nothing to do.
    let _ = span.set_parent(context);
}

/// `(traceparent, value)` for the current span, to add to an outbound
/// request; `None` when traces are off.
pub fn inject() -> Option<(&'static str, String)> {
    current_traceparent().map(|value| (TRACEPARENT, value))
}

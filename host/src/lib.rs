//! duro: a durable workflow host for WebAssembly components.
//!
//! A workflow is a component implementing the WIT world `duro:workflow/workflow`
//! (see `wit/workflow.wit`). duro runs it in wasmtime and journals the outcome of
//! every host call it makes, so after a crash, a restart or a long sleep the
//! workflow is replayed from its journal and continues exactly where it was.
//!
//! The layers, each depending only on those below it:
//!
//! - [`cli`]: the `duro` command line: `serve` and a client for the HTTP API.
//! - [`api`]: the HTTP API (axum): `app(runtime, limits) -> Router` and one error type.
//! - [`runtime`]: the scheduler: which workflow runs when, wake-ups, recovery,
//!   group commit of finished runs, shutdown.
//! - [`executor`]: one run of one workflow: a wasmtime `Store`, the host-call
//!   implementations and the replay cursor.
//! - [`effects`]: one attempt of an effect (outbound HTTP with its allowlist,
//!   caps and credential redaction), outside wasm and the database.
//! - [`engine`]: the shared wasmtime `Engine` configured for determinism, and
//!   component compilation.
//! - [`journal`]: journal entry types, the postcard codec and the determinism
//!   check. Knows nothing of SQL, HTTP or wasm.
//! - [`store`]: persistence behind the [`store::Store`] trait, on SQLite (the
//!   embedded default) or PostgreSQL. Knows nothing of wasm.
//! - [`ids`], [`clock`] and [`telemetry`]: identifier newtypes, the wall clock
//!   and the metrics and log every layer shares.
#![doc = include_str!("../../docs/journal.md")]

pub mod api;
pub mod cli;
pub mod clock;
pub mod effects;
pub mod engine;
pub mod executor;
pub mod ids;
pub mod journal;
pub mod runtime;
pub mod store;
pub mod telemetry;

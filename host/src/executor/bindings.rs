//! Host-side bindings for every version of the `duro:workflow/workflow`
//! world the host has shipped, generated from `wit/`.
//!
//! The linker defines each version's interfaces, so a component built
//! against any of them links: workflows are pinned to their component for
//! months, and a host upgrade must not strand them. Every version's world
//! exports the same `run`, so one [`WorkflowPre`] (the newest) instantiates
//! all of them. Older versions' imports delegate to the newest ones.
//! Conversions between the WIT types and the journal's are here too.
//!
//! Every import is async (a journaled call may wait for a checkpoint to
//! commit, `sleep` may wait in memory) and trappable, so that a
//! non-determinism error, a budget or a suspension can unwind the guest.
#![allow(missing_docs, unreachable_pub)]

/// `duro:workflow@0.1.0`: `runtime`.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/versions/0.1.0",
        world: "duro:workflow/workflow",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `duro:workflow@0.2.0`: `runtime`, `http`, `activities`, `waits` and
/// `events`.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "duro:workflow/workflow",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `duro:workflow/activity@0.2.0`: the world of activities.
pub mod activity {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "duro:workflow/activity",
        imports: { default: async | trappable },
        exports: { default: async },
        with: { "duro:workflow/types": super::v0_2::duro::workflow::types },
    });
}

pub use v0_2::duro::workflow::runtime::{Host as RuntimeHost, Level};
pub use v0_2::duro::workflow::types::RetryPolicy;
pub use v0_2::duro::workflow::{activities, events, http, types, waits};
pub use v0_2::{Workflow, WorkflowPre};

impl From<RetryPolicy> for crate::journal::RetryPolicy {
    fn from(policy: RetryPolicy) -> Self {
        Self {
            initial_interval_ms: policy.initial_interval_ms,
            backoff_coefficient_bits: policy.backoff_coefficient.to_bits(),
            maximum_interval_ms: policy.maximum_interval_ms,
            maximum_attempts: policy.maximum_attempts,
            non_retryable_error_types: policy.non_retryable_error_types,
        }
    }
}

impl From<types::ActivityError> for crate::journal::ActivityError {
    fn from(error: types::ActivityError) -> Self {
        Self {
            type_name: error.type_name,
            message: error.message,
            non_retryable: error.non_retryable,
            details: error.details,
            next_retry_delay_ms: error.next_retry_delay_ms,
        }
    }
}

impl From<crate::journal::ActivityError> for types::ActivityError {
    fn from(error: crate::journal::ActivityError) -> Self {
        Self {
            type_name: error.type_name,
            message: error.message,
            non_retryable: error.non_retryable,
            details: error.details,
            next_retry_delay_ms: error.next_retry_delay_ms,
        }
    }
}

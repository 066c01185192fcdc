//! Host-side bindings for the `duro:workflow/workflow` world, generated from `wit/`.
//!
//! Every import is async (a journaled call may wait for a checkpoint to
//! commit, `sleep` may wait in memory) and trappable, so that a
//! non-determinism error, a budget or a suspension can unwind the guest.
#![allow(missing_docs, unreachable_pub)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "duro:workflow/workflow",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use duro::workflow::runtime::{Host as RuntimeHost, Level};

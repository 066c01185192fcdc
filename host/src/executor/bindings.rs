//! Host-side bindings for the `duro:workflow/workflow` world, generated from `wit/`.
//!
//! `sleep` is async (it may wait in memory) and every import is trappable so
//! that a non-determinism error or a suspension can unwind the guest.
#![allow(missing_docs, unreachable_pub)]

wasmtime::component::bindgen!({
    path: "../wit",
    world: "duro:workflow/workflow",
    imports: {
        "duro:workflow/runtime.sleep": async | trappable,
        default: trappable,
    },
    exports: { default: async },
});

pub use duro::workflow::runtime::{Host as RuntimeHost, Level};

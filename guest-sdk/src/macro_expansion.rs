//! Documentation only: what [`workflow!`](crate::workflow) and
//! [`activity!`](crate::activity!) expand to.
//!
//! This module contains no items. For
//!
//! ```text
//! duro_sdk::workflow!(greet);
//! ```
//!
//! the macro generates, in the author's crate:
//!
//! ```text
//! #[cfg(target_family = "wasm")]
//! const _: () = {
//!     // A hidden type implementing the wit-bindgen `Guest` trait for the
//!     // `duro:workflow/workflow` world.
//!     struct __DuroWorkflow;
//!
//!     impl duro_sdk::__private::Guest for __DuroWorkflow {
//!         fn run(input: String) -> Result<String, String> {
//!             // Through `duro_sdk::Workflow::run_json`:
//!             // serde_json::from_str::<In>(&input)
//!             //     -> Err("invalid input: <serde error>") on failure,
//!             // greet(input), and for an `async fn` its future run to
//!             // the end on the SDK's executor
//!             //     -> Err(e.to_string()) on `Err(e)`,
//!             // serde_json::to_string(&out)
//!             //     -> Err("invalid output: <serde error>") on failure.
//!             duro_sdk::__private::run_workflow(&input, greet)
//!         }
//!     }
//!
//!     // wit-bindgen's export macro: emits the `run` export with the
//!     // canonical ABI glue (`#[unsafe(export_name = "run")]` and
//!     // `cabi_post_run`) and the custom section carrying the component
//!     // type, so that the linker produces a component whose world is
//!     // `duro:workflow/workflow@0.2.0`.
//!     duro_sdk::__private::export!(
//!         __DuroWorkflow with_types_in duro_sdk::__private::bindings
//!     );
//! };
//!
//! // On other targets (`cargo test`) nothing is exported; this only keeps
//! // the function used. Tests run it with `duro_sdk::testing`.
//! #[cfg(not(target_family = "wasm"))]
//! const _: fn(&str) -> Result<String, String> =
//!     |input| duro_sdk::__private::run_workflow(input, greet);
//! ```
//!
//! `duro_sdk::activity!(charge)` expands the same way, for the
//! `duro:workflow/activity` world: its `run` maps an input that does not
//! decode to an `invalid-input` failure and an output that does not encode
//! to `invalid-output` (both never retried), and an `Err(e)` to
//! `e.into()`, an [`activity::Failure`](crate::activity::Failure), turned
//! into the world's `activity-error` record.
//!
//! The SDK generates the bindings of both worlds with wit-bindgen's
//! `pub_export_macro`, so its own crate carries only their imports (the
//! component linker drops those a component does not call) and the exports
//! come with the export macro in the author's crate: a component is a
//! workflow or an activity, never both.
//!
//! Everything under `duro_sdk::__private` is an implementation detail and
//! may change without notice; the author's crate only needs `duro-sdk` and
//! `serde` as dependencies.

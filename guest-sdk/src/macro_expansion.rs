//! Documentation only: what [`workflow!`](crate::workflow) expands to.
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
//! const _: () = {
//!     // A hidden type implementing the wit-bindgen `Guest` trait for the
//!     // `duro:workflow/workflow` world.
//!     struct __DuroWorkflow;
//!
//!     impl duro_sdk::__private::Guest for __DuroWorkflow {
//!         fn run(input: String) -> Result<String, String> {
//!             // serde_json::from_str::<In>(&input)
//!             //     -> Err("invalid input: <serde error>") on failure,
//!             // greet(input)
//!             //     -> Err(e.to_string()) on `Err(e)`,
//!             // serde_json::to_string(&out)
//!             //     -> Err("invalid output: <serde error>") on failure.
//!             duro_sdk::__private::run_json(&input, greet)
//!         }
//!     }
//!
//!     // wit-bindgen's export macro: emits the `run` export with the
//!     // canonical ABI glue (`#[unsafe(export_name = "run")]` and
//!     // `cabi_post_run`) and the custom section carrying the component
//!     // type, so that the linker produces a component whose world is
//!     // `duro:workflow/workflow@0.1.0`.
//!     duro_sdk::__private::export!(
//!         __DuroWorkflow with_types_in duro_sdk::__private::bindings
//!     );
//! };
//! ```
//!
//! Everything under `duro_sdk::__private` is an implementation detail and
//! may change without notice; the author's crate only needs `duro-sdk` and
//! `serde` as dependencies.

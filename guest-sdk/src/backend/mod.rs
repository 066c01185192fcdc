//! The seam between the SDK and whatever answers its calls.
//!
//! Every host call of the SDK goes through the functions of this module,
//! which take and return the SDK's own types. On `wasm32-wasip2` they are
//! the wit-bindgen imports of `duro:workflow` ([`wit`]); on any other
//! target they are the scripted runtime of [`crate::testing`] ([`native`]),
//! so a workflow's code runs unchanged under `cargo test`. Both sides offer
//! the same functions with the same signatures, and nothing else in the
//! crate knows which one it is talking to.

#[cfg(not(target_family = "wasm"))]
mod native;
#[cfg(target_family = "wasm")]
mod wit;

#[cfg(not(target_family = "wasm"))]
pub(crate) use native::*;
#[cfg(target_family = "wasm")]
pub(crate) use wit::*;

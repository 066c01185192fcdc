//! A workflow built against `duro:workflow@0.1.0` (`wit/versions/0.1.0`),
//! without the SDK, which follows the newest WIT: the host links every
//! version it shipped, so this component must keep running unchanged.
//!
//! Input: a name (JSON string). Output: `{"greeting", "random", "slept"}`
//! after a journaled clock read, random number and 10 ms durable sleep.

#[allow(unsafe_code, missing_docs, unreachable_pub, clippy::all)]
mod bindings {
    wit_bindgen::generate!({ path: "../../../wit/versions/0.1.0", world: "workflow" });
}

use bindings::duro::workflow::runtime;

struct Legacy;

impl bindings::Guest for Legacy {
    fn run(input: String) -> Result<String, String> {
        let name: String = input.trim_matches('"').to_owned();
        let started = runtime::now();
        let random = runtime::random_u64();
        runtime::sleep(10_000_000);
        runtime::log(runtime::Level::Info, &format!("greeting {name}"));
        let slept = runtime::now() >= started + 10_000_000;
        Ok(format!(r#"{{"greeting":"hello, {name}","random":{random},"slept":{slept}}}"#))
    }
}

bindings::export!(Legacy with_types_in bindings);

//! Fan out, fan in: starts one child workflow per name, lets them run side
//! by side, and collects their outputs.
//!
//! Input `{"names":["Ada","Grace"],"component":"hello"}` (`component`, a
//! digest or a name, defaults to `"hello"`). Each child runs `component`
//! with input `{"name":<name>}` under the default child id
//! (`<this workflow's id>:<seq>`); every child is started before any is
//! awaited, so they run concurrently. Output `{"outputs":[...]}`: the
//! children's outputs, in the order of `names` (for `hello`, each
//! `{"greeting":"Hello, Ada!","at_ns":<ns>}`).
//!
//! Each child is a durable workflow of its own: if the host restarts, the
//! children resume where they were and this workflow, replayed, does not
//! start them again. It fails with `child for "<name>": child workflow <id>
//! <status>: <error>` if a child did not complete, `cannot start a child for
//! "<name>": <why>` if one could not start (an unknown component, say), and
//! `cancelled` if it was cancelled while waiting (its running children are
//! then cancelled too).

use duro_sdk::Level;
use duro_sdk::child;
use duro_sdk::wait::WaitError;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Workflow input.
#[derive(Deserialize)]
struct Input {
    /// One child per name.
    names: Vec<String>,
    /// The children's component.
    #[serde(default = "hello")]
    component: String,
}

fn hello() -> String {
    "hello".to_owned()
}

/// Workflow output.
#[derive(Serialize)]
struct Output {
    outputs: Vec<Value>,
}

fn fan_out(input: Input) -> Result<Output, String> {
    duro_sdk::log(Level::Info, &format!("starting {} children of {}", input.names.len(), input.component));
    let mut children = Vec::with_capacity(input.names.len());
    for name in &input.names {
        let child = child::start(&input.component, &json!({ "name": name }), None)
            .map_err(|e| format!("cannot start a child for {name:?}: {e}"))?;
        children.push((name, child));
    }
    let mut outputs = Vec::with_capacity(children.len());
    for (name, child) in &children {
        match child.join::<Value>() {
            Ok(Ok(output)) => outputs.push(output),
            Ok(Err(end)) => return Err(format!("child for {name:?}: {end}")),
            Err(WaitError::Cancelled) => return Err("cancelled".to_owned()),
            Err(e) => return Err(format!("child for {name:?}: {e}")),
        }
    }
    Ok(Output { outputs })
}

duro_sdk::workflow!(fan_out);

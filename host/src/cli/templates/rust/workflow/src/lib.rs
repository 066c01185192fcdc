//! A duro workflow: it publishes event `status`, then waits for whichever
//! comes first, signal `greet` or a timeout, and returns a message.
//!
//! Input `{"name":"Ada","timeout_s":3600}` (`timeout_s` defaults to an
//! hour). Signal `greet` carries a greeting as its JSON payload (`"Hello"`).
//! Output `{"message":"Hello, Ada!","timed_out":false}`, or
//! `{"message":"No greeting for Ada","timed_out":true}` after the timeout.
//! Event `status` is `"waiting"` during the wait and `"done"` after it.
//!
//! The wait is durable: the host unloads the workflow while it waits and
//! resumes it, after a restart too, when the signal or the timer arrives.
//! The tests at the bottom run the workflow natively (`cargo test`) against
//! `duro_sdk::testing`'s scripted world: no host needed.

use std::time::Duration;

use duro_sdk::{future, set_event};
use serde::{Deserialize, Serialize};

/// Workflow input.
#[derive(Deserialize)]
struct Input {
    /// Who to greet.
    name: String,
    /// How long to wait for a greeting, in seconds.
    #[serde(default = "an_hour")]
    timeout_s: u64,
}

fn an_hour() -> u64 {
    60 * 60
}

/// Workflow output.
#[derive(Serialize)]
struct Output {
    message: String,
    timed_out: bool,
}

async fn greet(input: Input) -> Result<Output, String> {
    set_event("status", "waiting")?;
    // A race: `select!` takes the first to arrive, and the host journals
    // which one won, so a replay takes the same branch.
    let mut greeting = future::signal::<String>("greet");
    let mut timeout = future::sleep(Duration::from_secs(input.timeout_s));
    let output = duro_sdk::select! {
        greeting = greeting => Output {
            message: format!("{}, {}!", greeting.map_err(|e| e.to_string())?, input.name),
            timed_out: false,
        },
        fired = timeout => {
            fired.map_err(|e| e.to_string())?;
            Output { message: format!("No greeting for {}", input.name), timed_out: true }
        },
    };
    set_event("status", "done")?;
    Ok(output)
}

duro_sdk::workflow!(greet);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use duro_sdk::testing::Script;
    use serde_json::json;

    use super::greet;

    #[test]
    fn a_greeting_before_the_timeout_wins() {
        let run = Script::new()
            .signal_at(Duration::from_secs(30), "greet", &"Hello")
            .run(greet, json!({ "name": "Ada", "timeout_s": 3600 }));
        assert_eq!(
            run.output(),
            Some(&json!({ "message": "Hello, Ada!", "timed_out": false }))
        );
        assert_eq!(run.event("status"), Some(&json!("done")));
        assert_eq!(run.elapsed(), Duration::from_secs(30));
    }

    #[test]
    fn without_a_greeting_it_times_out() {
        let run = Script::new().run(greet, json!({ "name": "Ada", "timeout_s": 60 }));
        assert_eq!(
            run.output(),
            Some(&json!({ "message": "No greeting for Ada", "timed_out": true }))
        );
        assert_eq!(run.elapsed(), Duration::from_secs(60));
    }

    #[test]
    fn a_cancellation_while_waiting_fails_the_workflow() {
        let run = Script::new()
            .cancel_after(Duration::from_secs(5))
            .run(greet, json!({ "name": "Ada" }));
        assert_eq!(run.error(), Some("the workflow was cancelled"));
        assert_eq!(run.event("status"), Some(&json!("waiting")));
    }
}

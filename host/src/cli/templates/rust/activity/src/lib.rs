//! A duro activity: work a workflow hands out, with timeouts and retries.
//! This one turns a text into a shout.
//!
//! Input `{"text":"hello"}`, output `{"shout":"HELLO!"}`. An empty text
//! fails with type `empty`, marked non-retryable: retrying would not help.
//! Any other error is retried under the calling workflow's retry policy.
//!
//! Unlike a workflow, an activity is not replayed: it may read real clocks,
//! randomness and the network. An attempt that was running when the host
//! crashed runs again, so make the work idempotent; `activity::idempotency_key()`
//! names the call, the same on every attempt.
//!
//! A workflow calls it by the name it is pushed under:
//!
//! ```ignore
//! use duro_sdk::activity::{self, Options};
//!
//! let options = Options::new(std::time::Duration::from_secs(30));
//! let input = serde_json::json!({ "text": "hello" });
//! let shout: serde_json::Value = activity::call("{{name}}", &input, &options)?;
//! ```
//!
//! The tests at the bottom run it natively (`cargo test`) with
//! `duro_sdk::testing::Attempt`: no host needed.

use duro_sdk::activity::{self, Failure};
use serde::{Deserialize, Serialize};

/// Activity input.
#[derive(Deserialize)]
struct Input {
    text: String,
}

/// Activity output.
#[derive(Serialize)]
struct Output {
    shout: String,
}

fn shout(input: Input) -> Result<Output, Failure> {
    if input.text.is_empty() {
        return Err(Failure::non_retryable("empty", "there is nothing to shout"));
    }
    // Tells the host this attempt is alive (and what it got to, for the
    // next attempt if this one is lost).
    activity::heartbeat("shouting");
    Ok(Output {
        shout: format!("{}!", input.text.to_uppercase()),
    })
}

duro_sdk::activity!(shout);

#[cfg(test)]
mod tests {
    use duro_sdk::testing::Attempt;
    use serde_json::{Value, json};

    use super::shout;

    #[test]
    fn it_shouts() {
        let run = Attempt::new().run(shout, json!({ "text": "hello" }));
        assert_eq!(run.output::<Value>(), Ok(json!({ "shout": "HELLO!" })));
        assert_eq!(run.heartbeats(), ["shouting"]);
    }

    #[test]
    fn an_empty_text_fails_for_good() {
        let run = Attempt::new().run(shout, json!({ "text": "" }));
        let failure = run
            .failure()
            .map(|failure| (failure.type_name.as_str(), failure.non_retryable));
        assert_eq!(failure, Some(("empty", true)));
    }
}

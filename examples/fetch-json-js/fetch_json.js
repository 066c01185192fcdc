// GETs a URL through duro's journaled HTTP and returns the JSON it answers,
// in JavaScript: examples/fetch-json (a Rust activity) as a workflow.
//
// Input {"url": "http://…", "max_attempts": 5, "retry_initial_ms": 1000}
// (the last two optional, with those defaults). Connection errors, timeouts,
// 5xx and 429 answers are retried by the host under that policy, durably: a
// restart during a backoff resumes it. Output {"status": 200, "body":
// <JSON>}; a body that is not JSON, or no answer at all, fails the workflow.
// The response is journaled, so a replay returns it without sending the
// request again.
import * as duro from '../../guest-sdk/js/src/index.js';

export const run = duro.workflow((input) => {
  const retry = { maximumAttempts: input.max_attempts ?? 5, initialIntervalMs: input.retry_initial_ms ?? 1000 };
  const response = duro.http.get(input.url, { retry });
  duro.log.info(`GET ${input.url}: ${response.status}`);
  let body;
  try {
    body = response.json();
  } catch (error) {
    throw new Error(`not-json: the answer (${response.status}) is not JSON: ${error.message}`);
  }
  return { status: response.status, body };
});

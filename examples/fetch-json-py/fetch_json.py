"""GETs a URL through duro's journaled HTTP and returns the JSON it answers,
in Python: ``examples/fetch-json`` (a Rust activity) as a workflow.

Input ``{"url": "http://…", "max_attempts": 5, "retry_initial_ms": 1000}``
(the last two optional, with those defaults). Connection errors, timeouts,
5xx and 429 answers are retried by the host under that policy, durably: a
restart during a backoff resumes it. Output ``{"status": 200, "body":
<JSON>}``; a body that is not JSON, or no answer at all, fails the
workflow. The response is journaled, so a replay returns it without
sending the request again.
"""

import duro_sdk as duro
from duro_sdk import http


@duro.workflow
def run(input):
    policy = duro.RetryPolicy(
        maximum_attempts=input.get("max_attempts", 5),
        initial_interval=input.get("retry_initial_ms", 1000) / 1000,
    )
    response = http.get(input["url"], retry=policy)
    duro.log.info(f"GET {input['url']}: {response.status}")
    try:
        body = response.json()
    except ValueError as error:
        raise ValueError(f"not-json: the answer ({response.status}) is not JSON: {error}") from None
    return {"status": response.status, "body": body}

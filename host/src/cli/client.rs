//! The API client behind the CLI's `component`, `workflow` and `schedule`
//! commands.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// `println!` that returns an error instead of panicking when stdout is
/// closed (`duro workflow list | head`); [`super::main`] exits quietly then.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout(), $($arg)*).context("cannot write to stdout")?
    };
}

mod schedules;

pub(super) use schedules::NewSchedule;

/// Seconds each long poll of `workflow start --wait` asks the server to wait.
const POLL_SECONDS: u32 = 60;

pub(super) struct Client {
    base: String,
    http: reqwest::Client,
    json: bool,
}

impl Client {
    /// A client of the server at `server`, sending `token` as a bearer
    /// token on every request when given.
    pub(super) fn new(server: &str, token: Option<&str>, json: bool) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .context("DURO_TOKEN (--token) is not a valid header value")?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self { base: server.trim_end_matches('/').to_owned(), http, json })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends `request`; the status and JSON body of a 2xx answer, or an error
    /// carrying the API's error code and message.
    async fn send(&self, request: RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
        let response =
            request.send().await.with_context(|| format!("cannot reach the duro server at {}", self.base))?;
        let status = response.status();
        let text = response.text().await.context("cannot read the server's answer")?;
        // 204 No Content (a delete) has no body.
        let body: Value = if status == StatusCode::NO_CONTENT {
            Value::Null
        } else {
            serde_json::from_str(&text)
                .with_context(|| format!("the server answered {status} with non-JSON: {text}"))?
        };
        if !status.is_success() {
            let code = body["error"]["code"].as_str().unwrap_or("unknown");
            let message = body["error"]["message"].as_str().unwrap_or(&text);
            bail!("{message} ({status}, {code})");
        }
        Ok((status, body))
    }

    /// Sends `request` and prints the array `body[key]` one `row` per item, or
    /// the whole body with `--json`.
    async fn print_list(
        &self,
        request: RequestBuilder,
        key: &str,
        row: fn(&Value) -> String,
    ) -> anyhow::Result<()> {
        let (_, body) = self.send(request).await?;
        if !self.print_json(&body)? {
            for item in body[key].as_array().into_iter().flatten() {
                say!("{}", row(item));
            }
        }
        Ok(())
    }

    /// Prints `body` if `--json` was given; whether it did.
    fn print_json(&self, body: &Value) -> anyhow::Result<bool> {
        if self.json {
            say!("{}", serde_json::to_string_pretty(body).unwrap_or_else(|_| body.to_string()));
        }
        Ok(self.json)
    }

    pub(super) async fn push_component(&self, file: &Path, name: Option<&str>) -> anyhow::Result<()> {
        let (status, body) = self.upload(file, name).await?;
        if !self.print_json(&body)? {
            let verb = if status == StatusCode::CREATED { "stored" } else { "already stored" };
            say!(
                "{verb} {} ({}, {} bytes{})",
                text(&body["digest"]),
                text(&body["kind"]),
                body["size"],
                name_suffix(&body["name"])
            );
        }
        Ok(())
    }

    /// Uploads the component file at `file`; the API's answer.
    async fn upload(&self, file: &Path, name: Option<&str>) -> anyhow::Result<(StatusCode, Value)> {
        let bytes = tokio::fs::read(file).await.with_context(|| format!("cannot read {}", file.display()))?;
        let mut request =
            self.request(Method::POST, "/v1/components").header("content-type", "application/wasm");
        if let Some(name) = name {
            request = request.query(&[("name", name)]);
        }
        self.send(request.body(bytes)).await
    }

    pub(super) async fn component_versions(&self, name: &str) -> anyhow::Result<()> {
        let (_, body) = self.send(self.request(Method::GET, &format!("/v1/components/{name}"))).await?;
        if self.print_json(&body)? {
            return Ok(());
        }
        let Some(versions) = body["versions"].as_array() else {
            bail!("{name} is a digest, not a component name");
        };
        for (i, version) in versions.iter().enumerate() {
            let current = if i == 0 { "  (current)" } else { "" };
            say!(
                "{}  {:>10} bytes  pushed {}{current}",
                text(&version["digest"]),
                version["size"],
                text(&version["pushed_at"])
            );
        }
        Ok(())
    }

    /// `duro replay`: exits 1 (an error) unless the journal replays cleanly.
    pub(super) async fn replay(&self, id: &str, component: &str) -> anyhow::Result<()> {
        let path = format!("/v1/workflows/{id}/replay");
        let request = if Path::new(component).is_file() {
            let bytes =
                tokio::fs::read(component).await.with_context(|| format!("cannot read {component}"))?;
            self.request(Method::POST, &path).header("content-type", "application/wasm").body(bytes)
        } else {
            self.request(Method::POST, &path).json(&json!({ "component": component }))
        };
        let (_, body) = self.send(request).await?;
        if !self.print_json(&body)? {
            if body["ok"] == true {
                let then = match &body["returned"] {
                    Value::Null => "then makes a new call".to_owned(),
                    returned => format!("then returns {returned}"),
                };
                say!(
                    "workflow {id} replays cleanly on {}: {} entries, {then}",
                    text(&body["component"]),
                    body["replayed"]
                );
            } else if let Some(message) = body["divergence"]["message"].as_str() {
                say!("workflow {id} does not replay on {}: {message}", text(&body["component"]));
            } else {
                say!(
                    "workflow {id} does not replay on {}: {}",
                    text(&body["component"]),
                    text(&body["failed"])
                );
            }
        }
        if body["ok"] != true {
            bail!("the journal does not replay on this component");
        }
        Ok(())
    }

    pub(super) async fn upgrade(&self, id: &str, component: &str) -> anyhow::Result<()> {
        let component = if Path::new(component).is_file() {
            let (_, body) = self.upload(Path::new(component), None).await?;
            text(&body["digest"]).to_owned()
        } else {
            component.to_owned()
        };
        let request = self
            .request(Method::POST, &format!("/v1/workflows/{id}/upgrade"))
            .json(&json!({ "component": component }));
        let (_, body) = self.send(request).await?;
        if !self.print_json(&body)? {
            say!("workflow {id} now runs {} ({})", text(&body["component"]), text(&body["status"]));
        }
        Ok(())
    }

    pub(super) async fn list_components(&self) -> anyhow::Result<()> {
        let request = self.request(Method::GET, "/v1/components");
        self.print_list(request, "components", |component| {
            format!(
                "{}  {:<8}  {:>10} bytes  {}  {}",
                text(&component["digest"]),
                text(&component["kind"]),
                component["size"],
                text(&component["created_at"]),
                text(&component["name"])
            )
        })
        .await
    }

    pub(super) async fn start_workflow(
        &self,
        component: &str,
        input: &str,
        id: Option<&str>,
        wait: bool,
        timeout_s: Option<f64>,
    ) -> anyhow::Result<()> {
        let input: Value = serde_json::from_str(input).context("--input is not valid JSON")?;
        let request = self.request(Method::POST, "/v1/workflows").json(&json!({
            "component": component,
            "input": input,
            "id": id,
            "timeout_s": timeout_s,
        }));
        let (status, body) = self.send(request).await?;
        let id = text(&body["id"]).to_owned();
        if !wait {
            if !self.print_json(&body)? {
                let verb = if status == StatusCode::CREATED { "started" } else { "already started" };
                say!("{verb} workflow {id} ({})", text(&body["status"]));
            }
            return Ok(());
        }
        if !self.json {
            eprintln!("started workflow {id}; waiting for its result");
        }
        loop {
            let path = format!("/v1/workflows/{id}/result?wait={POLL_SECONDS}");
            let (status, body) = self.send(self.request(Method::GET, &path)).await?;
            if status == StatusCode::OK {
                return self.print_result(&body);
            }
        }
    }

    pub(super) async fn signal(
        &self,
        id: &str,
        name: &str,
        payload: &str,
        key: Option<&str>,
    ) -> anyhow::Result<()> {
        let payload: Value = serde_json::from_str(payload).context("the payload is not valid JSON")?;
        let mut request =
            self.request(Method::POST, &format!("/v1/workflows/{id}/signals/{name}")).json(&payload);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let (_, body) = self.send(request).await?;
        if !self.print_json(&body)? {
            let duplicate =
                if body["duplicate"] == Value::Bool(true) { " (a repeat: delivered once)" } else { "" };
            say!("signal {name} stored for workflow {id} as arrival {}{duplicate}", body["arrival"]);
        }
        Ok(())
    }

    pub(super) async fn cancel(&self, id: &str, force: bool) -> anyhow::Result<()> {
        let request =
            self.request(Method::POST, &format!("/v1/workflows/{id}/cancel")).query(&[("force", force)]);
        let (_, body) = self.send(request).await?;
        if !self.print_json(&body)? {
            let verb = if force { "terminated" } else { "asked to cancel" };
            say!("workflow {id} {verb} (now {})", text(&body["status"]));
        }
        Ok(())
    }

    pub(super) async fn event(&self, id: &str, key: &str, wait: f64) -> anyhow::Result<()> {
        let request =
            self.request(Method::GET, &format!("/v1/workflows/{id}/events/{key}")).query(&[("wait", wait)]);
        let (_, body) = self.send(request).await?;
        if !self.print_json(&body)? {
            say!("{}", serde_json::to_string_pretty(&body["value"]).unwrap_or_default());
        }
        Ok(())
    }

    /// `DELETE path`, then prints `deleted WHAT` (or `{}` with `--json`).
    pub(super) async fn delete(&self, path: &str, what: &str) -> anyhow::Result<()> {
        self.send(self.request(Method::DELETE, path)).await?;
        if !self.print_json(&json!({}))? {
            say!("deleted {what}");
        }
        Ok(())
    }

    pub(super) async fn get_workflow(&self, id: &str) -> anyhow::Result<()> {
        let (_, body) = self.send(self.request(Method::GET, &format!("/v1/workflows/{id}"))).await?;
        if !self.print_json(&body)? {
            for key in ["id", "component", "status", "created_at", "updated_at", "wake_at", "parent"] {
                say!("{key:<11} {}", text(&body[key]));
            }
            let waits = &body["waits_for"];
            if !waits.is_null() {
                say!("{:<11} {}", "waits for", waits);
            }
            if let Some(children) = body["children"].as_array().filter(|children| !children.is_empty()) {
                for child in children {
                    say!("{:<11} {} ({})", "child", text(&child["id"]), text(&child["status"]));
                }
            }
            say!("{:<11} {}", "input", body["input"]);
            if !body["output"].is_null() {
                say!("{:<11} {}", "output", body["output"]);
            }
            if let Some(error) = body["error"].as_str() {
                say!("{:<11} {error}", "error");
            }
            let waiting = &body["waiting_on"];
            if !waiting.is_null() {
                let of = match waiting["max_attempts"].as_u64() {
                    Some(0) | None => String::new(),
                    Some(max) => format!(" of {max}"),
                };
                let when = match waiting["next_attempt_at"].as_str() {
                    Some(at) => format!("backing off until {at}"),
                    None => "in flight".to_owned(),
                };
                say!(
                    "{:<11} {}, attempt {}{of}, {when}",
                    "waiting on",
                    text(&waiting["effect"]),
                    waiting["attempt"]
                );
            }
        }
        Ok(())
    }

    pub(super) async fn list_workflows(
        &self,
        status: Option<&str>,
        component: Option<&str>,
        schedule: Option<&str>,
        limit: u32,
    ) -> anyhow::Result<()> {
        let mut query = vec![("limit", limit.to_string())];
        query.extend(status.map(|s| ("status", s.to_owned())));
        query.extend(component.map(|c| ("component", c.to_owned())));
        query.extend(schedule.map(|s| ("schedule", s.to_owned())));
        let request = self.request(Method::GET, "/v1/workflows").query(&query);
        self.print_list(request, "workflows", |workflow| {
            format!(
                "{}  {:<9}  {}  {}",
                text(&workflow["id"]),
                text(&workflow["status"]),
                text(&workflow["created_at"]),
                text(&workflow["component"])
            )
        })
        .await
    }

    pub(super) async fn journal(&self, id: &str) -> anyhow::Result<()> {
        let request = self.request(Method::GET, &format!("/v1/workflows/{id}/journal"));
        self.print_list(request, "entries", |entry| {
            let (request, response) = match text(&entry["kind"]) {
                "http" => http_summary(&entry["request"], &entry["response"]),
                _ => (entry["request"].to_string(), entry["response"].to_string()),
            };
            format!(
                "{:>4}  {}  {:<20} {request} -> {response}",
                entry["seq"],
                text(&entry["recorded_at"]),
                text(&entry["kind"])
            )
        })
        .await
    }

    pub(super) async fn logs(&self, id: &str) -> anyhow::Result<()> {
        let request = self.request(Method::GET, &format!("/v1/workflows/{id}/logs"));
        self.print_list(request, "lines", |line| {
            format!(
                "{}  {:<5}  {:<6}  {}",
                text(&line["at"]),
                text(&line["level"]),
                text(&line["stream"]),
                text(&line["message"])
            )
        })
        .await
    }

    pub(super) async fn result(&self, id: &str, wait: f64) -> anyhow::Result<()> {
        let path = format!("/v1/workflows/{id}/result?wait={wait}");
        let (status, body) = self.send(self.request(Method::GET, &path)).await?;
        if status == StatusCode::ACCEPTED && !self.json {
            say!("workflow {id} is still {}", text(&body["status"]));
            return Ok(());
        }
        self.print_result(&body)
    }

    fn print_result(&self, body: &Value) -> anyhow::Result<()> {
        if self.print_json(body)? {
            return Ok(());
        }
        match text(&body["status"]) {
            "completed" => {
                say!("{}", serde_json::to_string_pretty(&body["output"]).unwrap_or_default());
                Ok(())
            }
            "cancelled" if !body["output"].is_null() => {
                bail!("workflow {} is cancelled; it returned {}", text(&body["id"]), body["output"])
            }
            status => bail!("workflow {} is {status}: {}", text(&body["id"]), text(&body["error"])),
        }
    }
}

/// An HTTP journal entry in one line: `POST url (attempt 2, 120 B)` ->
/// `200 (1.2 kB, 35 ms)` or `timeout: … (12 ms), retry at …`.
fn http_summary(request: &Value, response: &Value) -> (String, String) {
    let sent = format!(
        "{} {} (attempt {}, {} B)",
        text(&request["method"]),
        text(&request["url"]),
        request["attempt"],
        request["body_bytes"].as_u64().unwrap_or(0)
    );
    let mut got = match response["status"].as_u64() {
        Some(status) => format!("{status} ({} B, {} ms)", response["body_bytes"], response["duration_ms"]),
        None => format!(
            "{}: {} ({} ms)",
            text(&response["error"]["type"]),
            text(&response["error"]["message"]),
            response["duration_ms"]
        ),
    };
    if let Some(at) = response["retry_at"].as_str() {
        got.push_str(&format!(", retry at {at}"));
    }
    (sent, got)
}

fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("-")
}

fn name_suffix(name: &Value) -> String {
    name.as_str().map(|name| format!(", name {name}")).unwrap_or_default()
}

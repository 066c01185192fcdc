//! Harness shared by the end-to-end tests: real `duro serve` processes on
//! real databases, real example components, and a small API client.
#![allow(dead_code, unused_macros, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a server may take to answer `/healthz` after it is spawned.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// A database for one test: a fresh SQLite file or a fresh PostgreSQL database.
pub struct Database {
    pub url: String,
    /// The PostgreSQL database's name and the server's admin URL.
    postgres: Option<(String, String)>,
    _dir: Option<TempDir>,
}

impl Database {
    pub fn sqlite() -> Self {
        let dir = TempDir::new();
        let url = format!("sqlite://{}", dir.path().join("duro.db").display());
        Self { url, postgres: None, _dir: Some(dir) }
    }

    /// A new database on the server named by `DATABASE_URL`, which the test
    /// command (`scripts/test.sh`) always sets, starting a throwaway cluster
    /// when needed.
    pub async fn postgres() -> Self {
        let admin_url = std::env::var("DATABASE_URL").expect(
            "DATABASE_URL is not set: run the tests with scripts/test.sh, which provides a PostgreSQL server",
        );
        sqlx::any::install_default_drivers();
        let name = format!("duro_test_{}", uuid::Uuid::now_v7().simple());
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.unwrap();
        let base = admin_url.rsplit_once('/').map(|(base, _)| base).unwrap();
        let query = admin_url.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
        let url = format!("{base}/{name}{query}");
        Self { url, postgres: Some((name, admin_url)), _dir: None }
    }

    /// PostgreSQL only: refuses new connections to the database and ends the
    /// open ones (`up = false`), or lets connections in again (`up = true`).
    pub async fn set_reachable(&self, up: bool) {
        let (name, admin_url) = self.postgres.as_ref().expect("only PostgreSQL databases can be taken down");
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(admin_url).await.unwrap();
        sqlx::query(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {up}"))
            .execute(&mut admin)
            .await
            .unwrap();
        if !up {
            sqlx::query(&format!(
                "SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .execute(&mut admin)
            .await
            .unwrap();
        }
    }

    /// The database at `url`, as it is (a private cluster's, say): nothing
    /// is created, and nothing dropped afterwards.
    pub fn at(url: &str) -> Self {
        Self { url: url.to_owned(), postgres: None, _dir: None }
    }

    /// Whether this is a PostgreSQL database (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// A direct connection, for tests that inspect or tamper with rows.
    pub async fn connect(&self) -> sqlx::AnyConnection {
        sqlx::any::install_default_drivers();
        <sqlx::AnyConnection as sqlx::Connection>::connect(&self.url).await.unwrap()
    }

    /// Deploys component `digest` under waiting workflow `id` behind duro's
    /// back, and makes it due, as a host change to how a call is journaled
    /// would: its next replay diverges, and it gets `stuck`.
    pub async fn swap_component(&self, id: &str, digest: &str) {
        let mut connection = self.connect().await;
        sqlx::query(
            "UPDATE workflows SET component = $1, status = 'running', waiting_on = NULL, due_at_ms = 0
             WHERE id = $2",
        )
        .bind(digest)
        .bind(id)
        .execute(&mut connection)
        .await
        .unwrap();
    }
}

impl Drop for Database {
    /// Drops a PostgreSQL test database (after the servers using it, which
    /// tests declare later and so drop first).
    fn drop(&mut self) {
        let Some((name, admin_url)) = self.postgres.take() else { return };
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url).await.unwrap();
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .unwrap();
            });
        })
        .join();
        if dropped.is_err() {
            eprintln!("could not drop test database");
        }
    }
}

/// Declares each named `async fn(Database)` as two tests, `sqlite::NAME` and
/// `postgres::NAME` (with the `postgres-tests` feature), one per backend.
macro_rules! on_sqlite_and_postgres {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test]
            async fn $test() {
                super::$test(crate::common::Database::sqlite()).await;
            })*
        }
        #[cfg(feature = "postgres-tests")]
        mod postgres {
            $(#[tokio::test]
            async fn $test() {
                super::$test(crate::common::Database::postgres().await).await;
            })*
        }
    };
}

/// A temporary directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(format!("duro-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `duro serve` process, listening on a port the system picked.
pub struct Server {
    child: Child,
    pub base: String,
    database_url: String,
    extra_args: Vec<String>,
    /// Environment variables of the server process.
    env: Vec<(String, String)>,
    log: PathBuf,
    _log_dir: TempDir,
    http: reqwest::Client,
}

impl Server {
    pub async fn start(database: &Database) -> Self {
        Self::start_with(database, &[]).await
    }

    pub async fn start_with(database: &Database, extra_args: &[&str]) -> Self {
        Self::start_with_env(database, extra_args, &[]).await
    }

    /// Starts a server with `extra_args` and the environment variables `env`.
    pub async fn start_with_env(database: &Database, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        let log_dir = TempDir::new();
        let log = log_dir.path().join("serve.log");
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut server = Self {
            child: spawn(&database.url, extra_args, &env, &log),
            base: String::new(),
            database_url: database.url.clone(),
            extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
            env,
            log,
            _log_dir: log_dir,
            // No connection reuse: a server may close a connection after
            // refusing a large body, and a reused one would fail the next request.
            http: reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap(),
        };
        server.wait_healthy(0).await;
        server
    }

    /// Waits for the server's "listening" line (written after `log_offset`
    /// bytes of its log) and then for `/healthz` to answer.
    async fn wait_healthy(&mut self, log_offset: usize) {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            // `address=…` in the text log, `"address":"…"` in the JSON one.
            let address = log.get(log_offset..).and_then(|new| {
                let text = new.split("address=").nth(1).and_then(|rest| rest.split_whitespace().next());
                let json = new.split("\"address\":\"").nth(1).and_then(|rest| rest.split('"').next());
                text.or(json)
            });
            if let Some(address) = address {
                self.base = format!("http://{address}");
                let health = self.http.get(format!("{}/healthz", self.base)).send().await;
                if health.is_ok_and(|response| response.status().is_success()) {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("duro serve exited with {status}: {log}");
            }
            assert!(Instant::now() < deadline, "duro serve did not become healthy: {log}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Everything the server has logged so far, across restarts.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`STOP`, `CONT`, …) to the server process.
    pub fn signal(&self, signal: &str) {
        let sent =
            Command::new("kill").args([&format!("-{signal}"), &self.pid().to_string()]).status().unwrap();
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident memory (`VmHWM` in /proc), in bytes.
    pub fn peak_rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|line| line.starts_with("VmHWM:")).unwrap();
        let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib * 1024
    }

    /// SIGKILL: no shutdown code runs, exactly like a crash.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM, and the exit status once the server has stopped (at most 60 s).
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "duro serve did not stop after SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL, then start again on the same port and database.
    pub async fn crash_and_restart(&mut self) {
        self.kill9();
        self.restart().await;
    }

    /// SIGKILL, then start again with other flags.
    pub async fn crash_and_restart_with(&mut self, extra_args: &[&str]) {
        self.kill9();
        self.extra_args = extra_args.iter().map(|a| a.to_string()).collect();
        self.restart().await;
    }

    /// Starts the server again on the same database (after it stopped); it
    /// may listen on another port.
    pub async fn restart(&mut self) {
        let log_offset = std::fs::metadata(&self.log).map_or(0, |m| m.len() as usize);
        let args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        self.child = spawn(&self.database_url, &args, &self.env, &self.log);
        self.wait_healthy(log_offset).await;
    }

    /// Runs `duro ARGS` against this server; stdout, stderr, success.
    pub fn cli(&self, args: &[&str]) -> (String, String, bool) {
        let std::process::Output { status, stdout, stderr } = Command::new(env!("CARGO_BIN_EXE_duro"))
            .args(args)
            .env("DURO_SERVER", &self.base)
            .output()
            .unwrap();
        (String::from_utf8(stdout).unwrap(), String::from_utf8(stderr).unwrap(), status.success())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        decode(self.http.get(self.url(path)).send().await.unwrap()).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        decode(self.http.post(self.url(path)).json(body).send().await.unwrap()).await
    }

    /// `DELETE path`: the status, and the body (null for 204).
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self.http.delete(self.url(path)).send().await.unwrap();
        if response.status() == reqwest::StatusCode::NO_CONTENT {
            return (204, Value::Null);
        }
        decode(response).await
    }

    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let request = self.http.post(self.url(path)).header("content-type", "application/wasm").body(body);
        decode(request.send().await.unwrap()).await
    }

    /// Pushes an example component; returns its digest.
    pub async fn push_example(&self, name: &str) -> String {
        let (status, body) = self.post_bytes(&format!("/v1/components?name={name}"), example(name)).await;
        assert!(status == 201 || status == 200, "push {name}: {status} {body}");
        body["digest"].as_str().unwrap().to_owned()
    }

    pub async fn start_workflow(&self, component: &str, id: &str, input: Value) -> Value {
        let request = serde_json::json!({ "component": component, "id": id, "input": input });
        let (status, body) = self.post_json("/v1/workflows", &request).await;
        assert_eq!(status, 201, "start {id}: {body}");
        body
    }

    /// Waits up to `seconds` for a final status; the result body.
    pub async fn result(&self, id: &str, seconds: u32) -> Value {
        let (status, body) = self.get(&format!("/v1/workflows/{id}/result?wait={seconds}")).await;
        assert_eq!(status, 200, "workflow {id} not final after {seconds} s: {body}");
        body
    }

    /// Polls the workflow until `predicate` holds on it (at most 60 s).
    pub async fn wait_for(&self, id: &str, what: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, workflow) = self.get(&format!("/v1/workflows/{id}")).await;
            if predicate(&workflow) {
                return workflow;
            }
            assert!(Instant::now() < deadline, "workflow {id} never reached: {what}; last: {workflow}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn journal(&self, id: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/v1/workflows/{id}/journal")).await;
        assert_eq!(status, 200, "{body}");
        body["entries"].as_array().unwrap().clone()
    }

    pub async fn logs(&self, id: &str) -> Vec<Value> {
        let (status, body) = self.get(&format!("/v1/workflows/{id}/logs")).await;
        assert_eq!(status, 200, "{body}");
        body["lines"].as_array().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(database_url: &str, extra_args: &[&str], env: &[(String, String)], log: &Path) -> Child {
    let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", database_url])
        .args(extra_args)
        .env("RUST_LOG", "info")
        .envs(env.iter().map(|(name, value)| (name, value)))
        // Compiled components are shared by the tests' servers, not by the
        // machine's other users of `~/.cache/duro`.
        .env("DURO_COMPILE_CACHE", Path::new(env!("CARGO_TARGET_TMPDIR")).join("compile-cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .unwrap()
}

async fn decode(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer {status}: {text}"));
    (status, body)
}

/// Directory of the example components, built by `scripts/test.sh`.
pub fn examples_dir() -> PathBuf {
    std::env::var_os("DURO_EXAMPLES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/wasm32-wasip2/release"))
}

/// The bytes of an example component.
pub fn example(name: &str) -> Vec<u8> {
    let path = examples_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|error| {
        panic!("cannot read {}: {error}; build the examples first (scripts/test.sh does)", path.display())
    })
}

/// A running `shop-service` (examples/shop-service): the destination of the
/// effect tests' HTTP calls, on a port the system picked.
pub struct ShopService {
    child: Child,
    pub base: String,
    http: reqwest::Client,
}

impl ShopService {
    /// Starts the service (built beside `duro` by `scripts/test.sh`) and
    /// reads the address it prints.
    pub fn start() -> Self {
        use std::io::BufRead;
        let binary = Path::new(env!("CARGO_BIN_EXE_duro")).with_file_name("shop-service");
        let mut child = Command::new(&binary)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; scripts/test.sh builds it", binary.display()));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("shop said {line:?}"))
            .to_owned();
        Self { child, base, http: reqwest::Client::new() }
    }

    /// `host:port`, for `--allow-http`.
    pub fn authority(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Every request the shop received, in order; only those to `path` if given.
    pub async fn requests(&self, path: Option<&str>) -> Vec<Value> {
        let mut request = self.http.get(format!("{}/requests", self.base));
        if let Some(path) = path {
            request = request.query(&[("path", path)]);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// The paths of every request received, in order.
    pub async fn paths(&self) -> Vec<String> {
        self.requests(None).await.iter().map(|r| r["path"].as_str().unwrap().to_owned()).collect()
    }

    /// `(path, idempotency key)` of every request received, in order.
    pub async fn keyed_paths(&self) -> Vec<(String, String)> {
        self.requests(None)
            .await
            .iter()
            .map(|r| {
                let key = r["idempotency_key"].as_str().unwrap_or("").to_owned();
                (r["path"].as_str().unwrap().to_owned(), key)
            })
            .collect()
    }

    /// Arms a fault (see examples/shop-service/README.md).
    pub async fn fault(&self, fault: Value) {
        let response = self.http.post(format!("{}/faults", self.base)).json(&fault).send().await.unwrap();
        assert_eq!(response.status(), 204, "{fault}");
    }
}

impl Drop for ShopService {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private PostgreSQL cluster on a free loopback port, for the tests that
/// restart the server itself; stopped and removed on drop. Like
/// `scripts/postgres.sh`, it runs as the `postgres` user when the tests run
/// as root (PostgreSQL refuses root), with `fsync=off`: this is for tests,
/// never for figures.
pub struct PgCluster {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
}

impl PgCluster {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL binaries not found under /usr/lib/postgresql")
            .map(|entry| entry.unwrap().path().join("bin"))
            .filter(|bin| bin.join("pg_ctl").exists())
            .max_by_key(|bin| {
                let version = bin.parent().unwrap().file_name().unwrap().to_string_lossy().into_owned();
                version.parse::<u32>().unwrap_or(0)
            })
            .expect("no PostgreSQL version under /usr/lib/postgresql");
        let dir = TempDir::new();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let cluster = Self { dir, bin, port };
        if is_root() {
            let chown =
                Command::new("chown").args(["-R", "postgres"]).arg(cluster.dir.path()).status().unwrap();
            assert!(chown.success(), "cannot give the cluster's directory to the postgres user");
        }
        let data = cluster.dir.path().join("data");
        let initdb = cluster
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(initdb.success(), "initdb failed");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            cluster.port,
            cluster.dir.path().display()
        );
        cluster.pg_ctl(&["-o", &options, "start"]);
        cluster
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server the hard way (as a crash would: no checkpoint, every
    /// connection cut) and starts it again; returns once it takes
    /// connections.
    pub fn restart(&self) {
        self.pg_ctl(&["-m", "immediate", "restart"]);
    }

    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn pg_ctl(&self, args: &[&str]) {
        let log = self.dir.path().join("server.log");
        let status = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(&log)
            .arg("-w")
            .args(args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "pg_ctl {args:?} failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

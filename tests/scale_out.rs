//! Many hosts on one database, end to end: real `duro serve` processes
//! sharing one PostgreSQL database, killed with SIGKILL, paused with
//! SIGSTOP past their lease, and a PostgreSQL server restarted under them;
//! and a second host refused on one SQLite file.
//!
//! `faults_across_three_hosts` is the fault-injection suite: three hosts,
//! 500 workflows (countdowns, order sagas against the shop service,
//! approvals waiting for signals), repeated `kill -9` with restarts, one
//! host paused past its lease TTL, one PostgreSQL restart. At the end every
//! workflow has the output an uninterrupted run gives, ended once, and has
//! a dense journal, and every request the shop saw more than once carried
//! the same idempotency key each time. It prints its figures.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Database, Server};
use serde_json::{Value, json};

#[tokio::test]
async fn a_second_host_on_one_sqlite_file_is_refused() {
    let database = Database::sqlite();
    let server = Server::start(&database).await;
    let output = Command::new(env!("CARGO_BIN_EXE_duro"))
        .args(["serve", "--listen", "127.0.0.1:0", "--database", &database.url])
        .output()
        .unwrap();
    assert!(!output.status.success(), "a second host on one SQLite file started");
    let stderr = String::from_utf8(output.stderr).unwrap();
    let expected = format!("is used by another duro host (pid {})", server.pid());
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(stderr.contains("use postgres://… for several"), "{stderr}");
    // The one host goes on serving.
    assert_eq!(server.get("/healthz").await.0, 200);
}

#[cfg(feature = "postgres-tests")]
mod postgres {
    use super::*;
    use common::{PgCluster, ShopService};

    /// Lease TTL of the hosts in these tests, in ms: short, so takeovers
    /// are quick.
    const LEASE_TTL_MS: u64 = 2_000;

    /// The live hosts as host `server` lists them: `(id, leases)`.
    async fn hosts(server: &Server) -> Vec<(String, u64)> {
        let (status, body) = server.get("/v1/hosts").await;
        assert_eq!(status, 200, "{body}");
        body["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|host| (host["id"].as_str().unwrap().to_owned(), host["leases"].as_u64().unwrap()))
            .collect()
    }

    /// Two hosts share one database: each lists both, either runs what the
    /// other's API started, a `kill -9` hands a host's runs to the other
    /// after the lease TTL, and a SIGTERM hands them over at once.
    #[tokio::test]
    async fn two_hosts_share_one_database_and_take_over_from_each_other() {
        let database = Database::postgres().await;
        let ttl = LEASE_TTL_MS.to_string();
        let mut a = Server::start_with(&database, &["--lease-ttl-ms", &ttl]).await;
        let mut b = Server::start_with(&database, &["--lease-ttl-ms", "60000"]).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        while hosts(&a).await.len() < 2 {
            assert!(Instant::now() < deadline, "the hosts never both registered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(hosts(&b).await.len(), 2);
        a.push_example("countdown").await;

        // Started through A, run on either; seen from B. Three ticks of a
        // second each, slept inline: each run owns its workflow throughout.
        for i in 0..20 {
            a.start_workflow("countdown", &format!("c-{i}"), json!({ "n": 3, "seconds": 1 })).await;
        }
        let a_id = a.get("/healthz").await.1["host"].as_str().unwrap().to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, workflow) = b.get("/v1/workflows/c-19").await;
            if workflow["host"].is_string() {
                break;
            }
            assert!(Instant::now() < deadline, "c-19 never ran: {workflow}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // A dies with runs in flight; B takes them over once A's lease expires.
        let owned_by_a = hosts(&b).await.into_iter().find(|(id, _)| *id == a_id).map_or(0, |(_, n)| n);
        a.kill9();
        for i in 0..20 {
            let result = b.result(&format!("c-{i}"), 60).await;
            assert_eq!(result["status"], "completed", "{result}");
            assert_eq!(result["output"]["ticks"].as_array().unwrap().len(), 3, "{result}");
        }
        let live: Vec<String> = hosts(&b).await.into_iter().map(|(id, _)| id).collect();
        assert!(!live.contains(&a_id), "a dead host is listed: {live:?}");
        assert!(owned_by_a > 0, "A ran none of the workflows: the kill took nothing over");

        // B has a 60 s lease, but a SIGTERM gives its runs to A at once.
        a.restart().await;
        for i in 0..4 {
            b.start_workflow("countdown", &format!("d-{i}"), json!({ "n": 20, "seconds": 1 })).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let b_id = b.get("/healthz").await.1["host"].as_str().unwrap().to_owned();
        while hosts(&a).await.iter().find(|(id, _)| *id == b_id).map_or(0, |(_, n)| *n) == 0 {
            assert!(Instant::now() < deadline, "B never ran a d- workflow");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(b.terminate().await.success());
        assert_eq!(hosts(&a).await.len(), 1, "B deleted its row as it stopped");
        let (_, moved) = a.get("/v1/workflows?status=running").await;
        assert!(
            moved["workflows"].as_array().unwrap().iter().all(|w| w["host"] != b_id.as_str()),
            "B still owns a workflow: {moved}"
        );
        // Each d- workflow runs on A well within B's 60 s lease.
        for i in 0..4 {
            let result = a.result(&format!("d-{i}"), 40).await;
            assert_eq!(result["status"], "completed", "{result}");
        }
    }

    /// A client that finds some live host for each request: hosts die and
    /// come back on other ports, and answer 503 while the database is down.
    struct Client {
        http: reqwest::Client,
    }

    impl Client {
        fn new() -> Self {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .timeout(Duration::from_secs(70))
                .build()
                .unwrap();
            Self { http }
        }

        /// Sends the request `make(base)` to the hosts in turn, from host
        /// `first`, until one answers other than 5xx (at most 120 s).
        async fn send(
            &self,
            servers: &[Server],
            first: usize,
            make: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
        ) -> (u16, Value) {
            let deadline = Instant::now() + Duration::from_secs(120);
            for attempt in 0.. {
                let server = &servers[(first + attempt) % servers.len()];
                if let Ok(response) = make(&self.http, &server.base).send().await {
                    let status = response.status().as_u16();
                    if status < 500 {
                        let body = response.json().await.unwrap_or(Value::Null);
                        return (status, body);
                    }
                }
                assert!(Instant::now() < deadline, "no host answered for 120 s");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            unreachable!()
        }
    }

    /// The workflows of round `round` of the suite: `(component, id, input)`,
    /// 100 of them: 40 countdowns of 6 s (slept inline, so their runs own
    /// them throughout), 40 order sagas, 20 approvals.
    fn workload(round: usize, shop: &ShopService) -> Vec<(&'static str, String, Value)> {
        let mut workflows = Vec::new();
        for i in 0..40 {
            workflows.push(("countdown", format!("countdown-{round}-{i}"), json!({ "n": 6, "seconds": 1 })));
        }
        for i in 0..40 {
            let order = json!({
                "shop": shop.base, "sku": "sku-1", "quantity": 1, "amount_cents": 100 + i,
                "card": "4242", "address": "1 Main St", "retry_initial_ms": 200, "max_attempts": 20,
            });
            workflows.push(("order_saga", format!("order-{round}-{i}"), order));
        }
        for i in 0..20 {
            let input = json!({ "request": format!("r{round}-{i}"), "timeout_s": 3600 });
            workflows.push(("approval", format!("approval-{round}-{i}"), input));
        }
        workflows
    }

    /// Whether `result` is what an uninterrupted run of `component` gives.
    fn as_uninterrupted(component: &str, result: &Value) -> bool {
        let output = &result["output"];
        result["status"] == "completed"
            && match component {
                "countdown" => output["ticks"].as_array().is_some_and(|ticks| {
                    ticks.len() == 6 && ticks.windows(2).all(|t| t[0].as_u64() < t[1].as_u64())
                }),
                "order_saga" => ["reservation_id", "payment_id", "shipment_id"]
                    .iter()
                    .all(|field| output[field].is_string()),
                _ => output["decision"] == "approved" && output["by"] == "tester",
            }
    }

    /// The index in `servers` of the host that owns the most workflows now,
    /// and how many it owns.
    async fn busiest(client: &Client, servers: &[Server]) -> (usize, u64) {
        let (_, listed) = client.send(servers, 0, |http, base| http.get(format!("{base}/v1/hosts"))).await;
        let busiest = listed["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .max_by_key(|host| host["leases"].as_u64())
            .map(|host| (host["id"].clone(), host["leases"].as_u64().unwrap_or(0)));
        let Some((busiest, leases)) = busiest else { return (0, 0) };
        for (i, server) in servers.iter().enumerate() {
            let (_, health) = client
                .send(std::slice::from_ref(server), 0, |http, base| http.get(format!("{base}/healthz")))
                .await;
            if health["host"] == busiest {
                return (i, leases);
            }
        }
        (0, 0)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn faults_across_three_hosts() {
        let began = Instant::now();
        let cluster = PgCluster::start();
        let database = Database::at(&cluster.url());
        let shop = ShopService::start();
        // A tenth of the charges answer after 1.5 s: requests in flight at the kills.
        shop.fault(json!({ "path": "/payments/charge", "delay_ms": 1_500, "times": 50 })).await;
        let ttl = LEASE_TTL_MS.to_string();
        let args = ["--allow-http", shop.authority(), "--lease-ttl-ms", &ttl];
        let mut servers = Vec::new();
        for _ in 0..3 {
            servers.push(Server::start_with(&database, &args).await);
        }
        for name in ["countdown", "order_saga", "approval"] {
            servers[0].push_example(name).await;
        }
        let client = Client::new();

        // Five rounds: start 100 workflows through any host, approve the
        // previous round's approvals through any host, inject a fault.
        let mut random = seeded_random();
        let (mut kills, mut stops, mut postgres_restarts) = (0, 0, 0);
        let mut workflows = Vec::new();
        let mut to_approve: Vec<String> = Vec::new();
        for round in 0..6 {
            let started = if round < 5 { workload(round, &shop) } else { Vec::new() };
            for (i, (component, id, input)) in started.iter().enumerate() {
                let body = json!({ "component": component, "id": id, "input": input });
                let (status, answer) = client
                    .send(&servers, i, |http, base| http.post(format!("{base}/v1/workflows")).json(&body))
                    .await;
                assert!(status == 201 || status == 200, "start {id}: {status} {answer}");
            }
            for (k, id) in to_approve.iter().enumerate() {
                let body = json!({ "by": "tester", "comment": "ok" });
                let (status, answer) = client
                    .send(&servers, k, |http, base| {
                        http.post(format!("{base}/v1/workflows/{id}/signals/approve"))
                            .header("idempotency-key", format!("approve-{id}"))
                            .json(&body)
                    })
                    .await;
                assert_eq!(status, 202, "signal {id}: {answer}");
            }
            to_approve = started
                .iter()
                .filter(|(component, ..)| *component == "approval")
                .map(|(_, id, _)| id.clone())
                .collect();
            workflows.extend(started);
            tokio::time::sleep(Duration::from_secs(1)).await;
            match round {
                2 => {
                    // The fencing case: the busiest host, paused past its
                    // lease while others take its workflows over, comes back.
                    let (paused, leases) = busiest(&client, &servers).await;
                    assert!(leases > 0, "no host runs a workflow to pause");
                    let paused = &servers[paused];
                    paused.signal("STOP");
                    tokio::time::sleep(Duration::from_millis(LEASE_TTL_MS * 3)).await;
                    paused.signal("CONT");
                    stops += 1;
                }
                3 => {
                    cluster.restart();
                    postgres_restarts += 1;
                }
                _ => {
                    let victim =
                        if random.next(2) == 0 { busiest(&client, &servers).await.0 } else { random.next(3) };
                    servers[victim].crash_and_restart().await;
                    kills += 1;
                }
            }
        }

        // Every workflow ends as an uninterrupted run would have it.
        let mut wrong = Vec::new();
        for (i, (component, id, _)) in workflows.iter().enumerate() {
            let (status, result) = client
                .send(&servers, i, |http, base| http.get(format!("{base}/v1/workflows/{id}/result?wait=60")))
                .await;
            if status != 200 || !as_uninterrupted(component, &result) {
                wrong.push(format!("{id}: {status} {result}"));
            }
        }
        assert!(wrong.is_empty(), "{} workflows did not end as expected:\n{}", wrong.len(), wrong.join("\n"));

        // Journals are dense: seq 0..next_seq, each once.
        let mut connection = database.connect().await;
        let rows = sqlx::query(
            "SELECT w.id, w.next_seq, COUNT(j.seq) AS entries, COALESCE(MAX(j.seq), -1) AS last
             FROM workflows w LEFT JOIN journal j ON j.workflow_id = w.id GROUP BY w.id, w.next_seq",
        )
        .fetch_all(&mut connection)
        .await
        .unwrap();
        assert_eq!(rows.len(), workflows.len());
        for row in &rows {
            use sqlx::Row;
            let (id, next_seq, entries, last): (String, i64, i64, i64) =
                (row.get("id"), row.get("next_seq"), row.get("entries"), row.get("last"));
            assert!(
                entries == next_seq && last == next_seq - 1,
                "{id}: {entries} entries, last {last}, next_seq {next_seq}"
            );
        }

        // Each workflow ended once: no host logged the end of one twice (a
        // host killed between its final commit and the log line logs none).
        let mut ends: HashMap<String, u32> = HashMap::new();
        for server in &servers {
            for line in server.log_text().lines().filter(|line| line.contains("workflow ended")) {
                if let Some(id) =
                    line.split("workflow=").nth(1).and_then(|rest| rest.split_whitespace().next())
                {
                    *ends.entry(id.to_owned()).or_default() += 1;
                }
            }
        }
        let twice: Vec<_> = ends.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "workflows that ended more than once: {twice:?}");

        // The shop saw each effect under one key; a repeat (the at-least-once
        // window of a kill or a takeover) carries the same key.
        let requests = shop.keyed_paths().await;
        let mut by_key: BTreeMap<&str, (u32, HashSet<&str>)> = BTreeMap::new();
        for (path, key) in &requests {
            let entry = by_key.entry(key.as_str()).or_default();
            entry.0 += 1;
            entry.1.insert(path.as_str());
        }
        let mut keys_per_step: HashMap<(&str, &str), HashSet<&str>> = HashMap::new();
        for (key, (_, paths)) in &by_key {
            assert_eq!(paths.len(), 1, "key {key} was used for several requests: {paths:?}");
            let workflow = key.rsplit_once('/').map_or(*key, |(workflow, _)| workflow);
            for path in paths {
                keys_per_step.entry((workflow, path)).or_default().insert(key);
            }
        }
        let rekeyed: Vec<_> = keys_per_step.iter().filter(|(_, keys)| keys.len() > 1).collect();
        assert!(rekeyed.is_empty(), "an effect was sent again under another key: {rekeyed:?}");
        assert_eq!(keys_per_step.len(), 5 * 40 * 3, "each order reserves, charges and ships once");
        let duplicates: u32 = by_key.values().map(|(sent, _)| sent - 1).sum();

        // What the faults did, from the hosts' logs (kept across restarts).
        let logs: Vec<String> = servers.iter().map(Server::log_text).collect();
        let count = |needle: &str| logs.iter().map(|log| log.matches(needle).count()).sum::<usize>();
        let taken_over: usize = logs
            .iter()
            .flat_map(|log| log.lines().filter(|line| line.contains("reclaimed the leases of dead hosts")))
            .filter_map(|line| {
                line.split("workflows=").nth(1)?.split_whitespace().next()?.parse::<usize>().ok()
            })
            .sum();
        assert!(taken_over > 0, "no fault hit a workflow in a run: the suite tested nothing");
        let lease_losses =
            count("lease expired; abandoning runs") + count("lease no longer held; abandoning runs");
        assert!(lease_losses > 0, "the host paused past its lease never noticed it had lost it");
        println!(
            "faults_across_three_hosts: {} workflows on 3 hosts; {kills} kill -9 with restart, {stops} SIGSTOP \
             past the lease, {postgres_restarts} PostgreSQL restart; {taken_over} workflows taken over from dead \
             hosts, {} stale commits refused, {} lease losses; {} effects sent, {duplicates} sent again with the \
             same key; {:.0} s",
            workflows.len(),
            count("stale commit rejected"),
            lease_losses,
            requests.len(),
            began.elapsed().as_secs_f64(),
        );
    }

    /// A small deterministic generator seeded from the clock, printed so a
    /// failing run can be told apart.
    struct Random(u64);

    impl Random {
        fn next(&mut self, below: usize) -> usize {
            // xorshift64*
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % below
        }
    }

    fn seeded_random() -> Random {
        let seed =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
        println!("fault schedule seed {seed}");
        Random(seed)
    }
}

//! Where the CPU goes during a benchmark, from `/proc` (Linux only).
//!
//! A [`Snapshot`] holds the CPU time (user + system, in seconds) used so far
//! by each `duro serve` process, by the bench itself (all its threads), by
//! the PostgreSQL processes that serve the bench's database, and by the
//! whole machine; the difference of two snapshots is what the part in
//! between cost. `/proc` counts in ticks of 1/100 s, so a figure is exact to
//! about 10 ms per process.
//!
//! PostgreSQL's share is the sum over processes named `postgres` that are
//! either a backend connected to the bench's database (its name is a word of
//! the process title, `postgres: 15/main: user DB 127.0.0.1(port) state`) or
//! one of the server's own processes (postmaster, WAL writer, checkpointer,
//! background writer, autovacuum…: a title with no client address), which
//! work for every database. Backends of other databases are left out, and so
//! is the time of backends that exit before the second snapshot (a host's
//! pooled connections live as long as the host).

use std::path::Path;

use anyhow::Context;

/// Linux's `USER_HZ`: `/proc` counts CPU time in ticks of 1/100 s.
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time used so far, in seconds, by the processes of one benchmark run.
#[derive(Clone, Debug)]
pub(super) struct Snapshot {
    /// Each `duro serve` process, in the order given.
    pub(super) hosts: Vec<f64>,
    /// The PostgreSQL processes serving the database (see the module docs);
    /// `None` on SQLite.
    pub(super) postgres: Option<f64>,
    /// This process, all threads.
    pub(super) bench: f64,
    /// The whole machine: every CPU's time not idle and not waiting for I/O.
    pub(super) machine: f64,
}

impl Snapshot {
    /// Reads the CPU time of `host_pids`, of this process, of PostgreSQL
    /// when `postgres_database` names the database, and of the machine.
    pub(super) fn take(host_pids: &[u32], postgres_database: Option<&str>) -> anyhow::Result<Self> {
        let hosts = host_pids.iter().map(|&pid| process_seconds(pid)).collect::<anyhow::Result<_>>()?;
        let postgres = postgres_database.map(postgres_seconds).transpose()?;
        let bench = process_seconds(std::process::id())?;
        let machine = machine_busy_seconds()?;
        Ok(Self { hosts, postgres, bench, machine })
    }

    /// What was used between `earlier` and this snapshot, in seconds.
    pub(super) fn since(&self, earlier: &Self) -> Self {
        Self {
            hosts: self.hosts.iter().zip(&earlier.hosts).map(|(now, then)| now - then).collect(),
            postgres: self.postgres.zip(earlier.postgres).map(|(now, then)| now - then),
            bench: self.bench - earlier.bench,
            machine: self.machine - earlier.machine,
        }
    }

    /// The machine's CPU time that none of the processes above used, in
    /// seconds: other processes, the kernel's own work (interrupts, the
    /// loopback network), and rounding.
    pub(super) fn other(&self) -> f64 {
        self.machine - self.hosts.iter().sum::<f64>() - self.postgres.unwrap_or(0.0) - self.bench
    }
}

/// User + system CPU time of process `pid` (all its threads), in seconds.
fn process_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("cannot read /proc/{pid}/stat"))?;
    let (_, ticks) = parse_stat(&stat).with_context(|| format!("unexpected /proc/{pid}/stat: {stat}"))?;
    Ok(ticks as f64 / TICKS_PER_SECOND)
}

/// The command name and utime + stime (in ticks) from the text of
/// `/proc/<pid>/stat`: `pid (comm) state ppid … utime stime …`, where
/// utime and stime are fields 14 and 15 and `comm` may hold spaces and
/// parentheses.
fn parse_stat(stat: &str) -> Option<(&str, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?;
    // Fields from 3 (state) on; utime is field 14.
    let mut fields = stat.get(close + 1..)?.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((comm, utime + stime))
}

/// CPU time of the PostgreSQL processes that serve `database` (see the
/// module docs), in seconds. Processes that vanish while being read are
/// skipped.
fn postgres_seconds(database: &str) -> anyhow::Result<f64> {
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").context("cannot list /proc")? {
        let path = entry.context("cannot list /proc")?.path();
        let is_pid = path
            .file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| !name.is_empty() && name.bytes().all(|byte| byte.is_ascii_digit()));
        if is_pid {
            ticks += postgres_ticks(&path, database).unwrap_or(0);
        }
    }
    Ok(ticks as f64 / TICKS_PER_SECOND)
}

/// The ticks of the process at `/proc/<pid>` if it is a PostgreSQL process
/// serving `database`; `None` otherwise or when it cannot be read.
fn postgres_ticks(proc_dir: &Path, database: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(proc_dir.join("stat")).ok()?;
    let (comm, ticks) = parse_stat(&stat)?;
    if comm != "postgres" {
        return None;
    }
    let title = String::from_utf8_lossy(&std::fs::read(proc_dir.join("cmdline")).ok()?).replace('\0', " ");
    serves(&title, database).then_some(ticks)
}

/// Whether a PostgreSQL process with this title works for `database`: a
/// backend connected to it (the word before the client's address names its
/// database), or a process with no client (the server's own).
fn serves(title: &str, database: &str) -> bool {
    let words: Vec<&str> = title.split_whitespace().collect();
    let is_client = |word: &&str| {
        *word == "[local]"
            || word
                .strip_suffix(')')
                .and_then(|rest| rest.rsplit_once('('))
                .is_some_and(|(_, port)| !port.is_empty() && port.bytes().all(|byte| byte.is_ascii_digit()))
    };
    match words.iter().position(is_client) {
        Some(client) => client > 0 && words[client - 1] == database,
        None => true,
    }
}

/// CPU time of the whole machine that was neither idle nor waiting for
/// I/O, over all CPUs, in seconds (the first line of `/proc/stat`; guest
/// time is already counted in user time).
fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let ticks = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .and_then(|line| {
            let fields: Vec<u64> = line.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
            // user nice system idle iowait irq softirq steal [guest guest_nice]
            let busy: u64 = fields.iter().take(8).sum();
            Some(busy - fields.get(3)? - fields.get(4)?)
        })
        .context("unexpected /proc/stat")?;
    Ok(ticks as f64 / TICKS_PER_SECOND)
}

/// The database name of a PostgreSQL URL: `postgres://user@host:port/NAME?…`.
pub(super) fn database_name(url: &str) -> Option<&str> {
    let path = url.split_once("://")?.1.split_once('/')?.1;
    let name = path.split(['?', '#']).next()?;
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_comm_and_ticks_from_stat() {
        let stat = "2216 (postgres) S 1 2216 2216 0 -1 4194560 2 0 0 0 17 23 0 0 20 0 1 0 3 0";
        assert_eq!(parse_stat(stat), Some(("postgres", 40)));
        let odd = "7 (a) (b) R 1 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 1 0 3 0";
        assert_eq!(parse_stat(odd), Some(("a) (b", 11)));
    }

    #[test]
    fn tells_backends_of_other_databases_from_server_processes() {
        let ours = "postgres: 15/main: postgres duro_bench_1 127.0.0.1(58914) idle";
        let theirs = "postgres: 15/main: postgres duro_test_2 127.0.0.1(58926) idle";
        assert!(serves(ours, "duro_bench_1"));
        assert!(!serves(theirs, "duro_bench_1"));
        assert!(!serves("postgres: 15/main: postgres other [local] idle", "duro_bench_1"));
        assert!(!serves(theirs, "postgres"), "the user's name is not the database's");
        assert!(serves("postgres: 15/main: walwriter", "duro_bench_1"));
        assert!(serves("/usr/lib/postgresql/15/bin/postgres -D /var/lib/postgresql/15/main", "duro_bench_1"));
    }

    #[test]
    fn finds_the_database_name() {
        assert_eq!(database_name("postgres://postgres@127.0.0.1:5432/duro_bench_1"), Some("duro_bench_1"));
        assert_eq!(database_name("postgres://u:p@h/db?sslmode=disable"), Some("db"));
        assert_eq!(database_name("postgres://h:5432"), None);
    }
}

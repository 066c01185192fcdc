//! The `duro serve` flags that bound what workflows may use, and the
//! [`RuntimeConfig`] they make. Every limit is listed, with its default, in
//! ARCHITECTURE.md.

use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::engine::EngineLimits;
use crate::executor::{CheckpointPolicy, ExecutorConfig};
use crate::journal::Budget;
use crate::runtime::{DEFAULT_TIMEOUT_GRACE, RuntimeConfig};

/// Limits of workflows and runs.
#[derive(Debug, Args)]
pub(super) struct LimitArgs {
    /// Largest linear memory of one workflow instance, in MiB.
    #[arg(long, default_value_t = EngineLimits::default().max_memory_bytes >> 20)]
    max_memory_mib: usize,
    /// Most workflow instances alive at once: how many workflows run at once.
    #[arg(long, default_value_t = EngineLimits::default().max_instances)]
    max_instances: u32,
    /// Most live wasm CPU time one activation of a workflow may use, in ms;
    /// replaying journaled steps is not charged.
    #[arg(long, default_value_t = millis(EngineLimits::default().cpu_per_activation))]
    cpu_limit_ms: u64,
    /// Most wasm CPU time replaying a journal may take in one activation, in
    /// ms; going over is a host-side condition, retried with backoff.
    #[arg(long, default_value_t = millis(EngineLimits::default().replay_cpu_per_activation))]
    replay_cpu_limit_ms: u64,
    /// Timers due within this many ms wait in memory; longer ones suspend the
    /// workflow until its wake-up time.
    #[arg(long, default_value_t = millis(ExecutorConfig::default().inline_sleep_max))]
    inline_sleep_max_ms: u64,
    /// Most entries one workflow's journal may hold.
    #[arg(long, default_value_t = Budget::default().max_entries)]
    max_journal_entries: u64,
    /// Most payload bytes one workflow's journal may hold, in MiB.
    #[arg(long, default_value_t = Budget::default().max_journal_bytes >> 20)]
    max_journal_mib: u64,
    /// Largest payload of one journal entry, in bytes.
    #[arg(long, default_value_t = Budget::default().max_entry_bytes)]
    max_entry_bytes: u64,
    /// Most log lines one run keeps; more are counted, not kept.
    #[arg(long, default_value_t = Budget::default().max_log_lines_per_run)]
    max_log_lines_per_run: usize,
    /// Most log bytes one workflow keeps over its life, in MiB; more are
    /// counted, not kept.
    #[arg(long, default_value_t = Budget::default().max_log_bytes >> 20)]
    max_log_mib: u64,
    /// Most host resources (stream handles, pollables) one instance may hold.
    #[arg(long, default_value_t = ExecutorConfig::default().max_resources)]
    max_resources: usize,
    /// A run commits its progress once this many entries are pending.
    #[arg(long, default_value_t = CheckpointPolicy::default().max_entries)]
    checkpoint_entries: usize,
    /// A run commits its progress at its next journaled call once this many
    /// ms passed since its last commit.
    #[arg(long, default_value_t = millis(CheckpointPolicy::default().interval))]
    checkpoint_interval_ms: u64,
    /// Compiled code kept for components, in MiB; the least recently used
    /// are evicted past it.
    #[arg(long, default_value_t = ExecutorConfig::default().compiled_cache_bytes >> 20)]
    compiled_cache_mib: usize,
    /// Longest a component may take to compile, in ms.
    #[arg(long, default_value_t = millis(ExecutorConfig::default().compile_timeout))]
    compile_timeout_ms: u64,
    /// Longest one activity attempt may run, in ms, whatever start-to-close
    /// timeout the workflow asks for.
    #[arg(long, default_value_t = millis(ExecutorConfig::default().max_activity_attempt))]
    max_activity_attempt_ms: u64,
    /// How long a workflow cancelled by its execution timeout has to end
    /// before it is terminated, in ms.
    #[arg(long, default_value_t = millis(DEFAULT_TIMEOUT_GRACE))]
    timeout_grace_ms: u64,
}

impl LimitArgs {
    /// The runtime's configuration.
    ///
    /// # Errors
    /// If a size in MiB does not fit in bytes (in 64 bits, or in the
    /// platform's `usize` for in-memory sizes).
    pub(super) fn runtime_config(&self) -> anyhow::Result<RuntimeConfig> {
        let max_memory_bytes = usize::try_from(mib(self.max_memory_mib as u64, "--max-memory-mib")?)?;
        let compiled_cache_bytes =
            usize::try_from(mib(self.compiled_cache_mib as u64, "--compiled-cache-mib")?)?;
        let max_journal_bytes = mib(self.max_journal_mib, "--max-journal-mib")?;
        let max_log_bytes = mib(self.max_log_mib, "--max-log-mib")?;
        Ok(RuntimeConfig {
            limits: EngineLimits {
                max_memory_bytes,
                max_instances: self.max_instances.max(1),
                cpu_per_activation: Duration::from_millis(self.cpu_limit_ms),
                replay_cpu_per_activation: Duration::from_millis(self.replay_cpu_limit_ms),
            },
            executor: ExecutorConfig {
                inline_sleep_max: Duration::from_millis(self.inline_sleep_max_ms),
                budget: Budget {
                    max_entries: self.max_journal_entries,
                    max_journal_bytes,
                    max_entry_bytes: self.max_entry_bytes,
                    max_log_lines_per_run: self.max_log_lines_per_run,
                    max_log_bytes,
                },
                checkpoints: CheckpointPolicy {
                    max_entries: self.checkpoint_entries.max(1),
                    interval: Duration::from_millis(self.checkpoint_interval_ms),
                },
                max_resources: self.max_resources,
                compiled_cache_bytes,
                compile_timeout: Duration::from_millis(self.compile_timeout_ms),
                max_activity_attempt: Duration::from_millis(self.max_activity_attempt_ms),
                ..ExecutorConfig::default()
            },
            timeout_grace: Duration::from_millis(self.timeout_grace_ms),
            ..RuntimeConfig::default()
        })
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `value` MiB in bytes.
fn mib(value: u64, flag: &str) -> anyhow::Result<u64> {
    value.checked_mul(1 << 20).with_context(|| format!("{flag} {value} is too large"))
}

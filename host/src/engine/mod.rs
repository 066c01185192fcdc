//! The process-wide wasmtime [`Engine`], configured for deterministic
//! execution, and component compilation.
//!
//! One `Engine` serves every run: compiled code and the instance pool are
//! shared, and each run gets its own short-lived `Store` (see
//! [`executor`](crate::executor)). The settings that make replay faithful live
//! here: NaN canonicalisation and deterministic relaxed SIMD (so floating point
//! gives the same bits on every host), no wasm threads (wasmtime is built
//! without the `threads` feature), and epoch interruption
//! so a run that computes too long can be stopped.
//!
//! Compiled code is also kept on disk, in wasmtime's own cache
//! ([`wasmtime::Cache`]), keyed by the component's bytes and the engine's
//! version and settings: an 18 MB Python component takes seconds to compile,
//! and without the disk cache every process start would pay that again for
//! every component it runs. wasmtime checks what it loads from there against
//! the engine, and its worker trims the directory to 512 MiB.

use std::path::Path;
use std::time::Duration;

use wasmtime::component::Component;
use wasmtime::{Cache, CacheConfig, Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch ticks: how often CPU limits are checked and running
/// guests yield to other tasks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Most core instances one workflow component may create.
const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Most linear memories one workflow component may create.
const MEMORIES_PER_COMPONENT: u32 = 2;
/// Most tables one workflow component may create.
const TABLES_PER_COMPONENT: u32 = 16;
/// Bytes of each linear memory and table of a pooled slot reset in place
/// (with `memset`) when the instance is dropped, instead of returned to the
/// kernel with `madvise`: with Linux's `PAGEMAP_SCAN` (6.7 and later) only
/// the pages the instance touched are reset. An instance per run and per
/// activity attempt otherwise costs page faults and, with the process's
/// threads on several cores, a TLB shootdown at each `madvise`.
const KEEP_RESIDENT_BYTES: usize = 2 << 20;

/// Resource limits applied to every workflow instance.
#[derive(Debug, Clone, Copy)]
pub struct EngineLimits {
    /// Largest linear memory one instance may grow to, in bytes (default 64 MiB).
    pub max_memory_bytes: usize,
    /// Most instances alive at once across the process (default 256); each
    /// running workflow holds one, sleeping workflows hold none.
    pub max_instances: u32,
    /// Most live wasm execution time one activation (one replay-and-continue
    /// of a workflow) may use (default 10 s), measured from the epoch ticks
    /// at which the guest was running: waits in host calls and time spent
    /// descheduled do not count, the host's own work in a call does. Replay
    /// of journaled steps is not charged here. A run that goes over fails
    /// with a clear error.
    pub cpu_per_activation: Duration,
    /// Most wasm execution time replaying the journal may take in one
    /// activation (default 300 s). Each recorded activation stayed within
    /// [`Self::cpu_per_activation`], so this is a safety net: going over is a
    /// host-side condition, retried later, never a workflow failure.
    pub replay_cpu_per_activation: Duration,
}

impl Default for EngineLimits {
    fn default() -> Self {
        Self {
            max_memory_bytes: 64 << 20,
            max_instances: 256,
            cpu_per_activation: Duration::from_secs(10),
            replay_cpu_per_activation: Duration::from_secs(300),
        }
    }
}

/// Why a component could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes do not start with the wasm magic number.
    #[error("not a WebAssembly binary (missing the \\0asm header)")]
    NotWasm,
    /// The bytes are a core module, not a component.
    #[error(
        "a core WebAssembly module, not a component: build for wasm32-wasip2 or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    /// wasmtime rejected the component.
    #[error("invalid component: {0:#}")]
    Invalid(wasmtime::Error),
    /// The engine could not be set up.
    #[error("cannot configure the wasm engine: {0:#}")]
    Config(wasmtime::Error),
    /// The compile cache directory could not be created or used.
    #[error("cannot use {dir} as the compile cache: {error:#}")]
    CompileCache {
        /// The directory.
        dir: String,
        /// Why.
        error: wasmtime::Error,
    },
}

/// How often the disk cache of compiled code was used since the engine was
/// built: compilations it saved, and compilations it stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CompileCacheStats {
    /// Components loaded from the disk cache instead of compiled.
    pub hits: usize,
    /// Components compiled (and stored in the disk cache).
    pub misses: usize,
}

/// The shared engine; cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: wasmtime::Engine,
    limits: EngineLimits,
    /// The disk cache of compiled code, when there is one.
    cache: Option<Cache>,
}

impl Engine {
    /// Builds the engine and starts the thread that advances its epoch every
    /// [`EPOCH_TICK`] (it stops when the last clone of the engine is dropped).
    /// With `compile_cache`, an absolute directory (created if missing),
    /// compiled code is kept there across processes.
    ///
    /// # Errors
    /// [`Error::Config`] if wasmtime rejects the configuration, for example
    /// when the pooling allocator cannot reserve its address space;
    /// [`Error::CompileCache`] if the cache directory is relative or cannot
    /// be created.
    pub fn new(limits: EngineLimits, compile_cache: Option<&Path>) -> Result<Self, Error> {
        // Per-component caps keep one component from taking the slots of many:
        // a Rust component uses about 4 core instances, 1 memory and 2 tables.
        // Twice the instances: each running workflow may hold one activity
        // instance beside its own (a workflow calls activities one at a time).
        let instances = limits.max_instances.saturating_mul(2);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_memories(instances.saturating_mul(MEMORIES_PER_COMPONENT))
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .total_tables(instances.saturating_mul(TABLES_PER_COMPONENT))
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(limits.max_memory_bytes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES)
            .pagemap_scan(Enabled::Auto);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .cranelift_nan_canonicalization(true)
            .relaxed_simd_deterministic(true)
            .epoch_interruption(true)
            .concurrency_support(false)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let cache = compile_cache.map(disk_cache).transpose()?;
        config.cache(cache.clone());
        let inner = wasmtime::Engine::new(&config).map_err(Error::Config)?;
        spawn_epoch_ticker(inner.weak());
        Ok(Self { inner, limits, cache })
    }

    /// Uses of the disk cache so far; zeros without one.
    pub fn compile_cache_stats(&self) -> CompileCacheStats {
        self.cache.as_ref().map_or_else(CompileCacheStats::default, |cache| CompileCacheStats {
            hits: cache.cache_hits(),
            misses: cache.cache_misses(),
        })
    }

    /// The wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner
    }

    /// The limits every instance runs under.
    pub fn limits(&self) -> EngineLimits {
        self.limits
    }

    /// Compiles `bytes` into a component. CPU-heavy (milliseconds to seconds):
    /// call it from a blocking thread.
    ///
    /// # Errors
    /// [`Error::NotWasm`], [`Error::CoreModule`] or [`Error::Invalid`].
    pub fn compile(&self, bytes: &[u8]) -> Result<Component, Error> {
        // Layer field of the preamble: 0x0d 0x00 0x01 0x00 for components,
        // 0x01 0x00 0x00 0x00 for core modules (component model binary format).
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(Error::CoreModule),
            Some([0, b'a', b's', b'm', ..]) => Component::new(&self.inner, bytes).map_err(Error::Invalid),
            _ => Err(Error::NotWasm),
        }
    }
}

/// wasmtime's disk cache in `dir`, with its default limits.
fn disk_cache(dir: &Path) -> Result<Cache, Error> {
    let mut config = CacheConfig::new();
    config.with_directory(dir);
    Cache::new(config).map_err(|error| Error::CompileCache { dir: dir.display().to_string(), error })
}

fn spawn_epoch_ticker(engine: wasmtime::EngineWeak) {
    std::thread::Builder::new()
        .name("duro-epoch".into())
        .spawn(move || {
            while let Some(engine) = engine.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .unwrap_or_else(|error| tracing::error!(%error, "cannot start the epoch thread; CPU limits are off"));
}

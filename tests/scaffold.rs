//! `duro new` end to end: for each language the real `duro` binary writes
//! a project, and the project's own build and test commands pass (the Rust
//! ones natively with `duro_sdk::testing`, the Python and JavaScript ones
//! on a throwaway `duro serve` of this build); and what `duro new` must
//! refuse, it refuses with exit status 1.
//!
//! Nothing is installed here: the projects use the toolchains
//! `scripts/setup.sh` installs (componentize-py in `target/py-toolchain`,
//! componentize-js and esbuild in `target/js-toolchain`), and Rust builds
//! offline into the workspace's target directory, so shared dependencies
//! are reused. Every command runs in its own process group, killed if it
//! outlives its time limit.
#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use common::TempDir;

/// Longest a build may take: a Rust build may wait for others holding the
/// shared target directory, on two busy cores.
const BUILD_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// Longest a project's test may take: the Python and JavaScript ones
/// compile a 12 to 18 MB component in a debug host.
const TEST_TIMEOUT: Duration = Duration::from_secs(10 * 60);

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

/// `duro new ARGS` in `dir`: its exit status and what it printed.
fn duro_new(dir: &Path, args: &[&str]) -> (ExitStatus, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_duro"));
    command.arg("new").args(args).current_dir(dir);
    run(command, Duration::from_secs(60))
}

/// Runs `command` in a process group of its own with its output in a file;
/// kills the group if it takes longer than `timeout`.
fn run(mut command: Command, timeout: Duration) -> (ExitStatus, String) {
    let output_dir = TempDir::new();
    let output_path = output_dir.path().join("output");
    let output = File::create(&output_path).unwrap();
    command.stdout(output.try_clone().unwrap()).stderr(output).process_group(0);
    let description = format!("{command:?}");
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot run {description}: {e}"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            // The whole group: cargo's rustc, npm's node, the test's server.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            let output = std::fs::read_to_string(&output_path).unwrap_or_default();
            panic!("{description} took longer than {timeout:?}; its output:\n{output}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    (status, std::fs::read_to_string(&output_path).unwrap())
}

/// Runs `program ARGS` in `dir` with `envs` and checks that it succeeds.
fn succeeds(dir: &Path, program: &str, args: &[&str], envs: &[(&str, &str)], timeout: Duration) {
    let mut command = Command::new(program);
    command.args(args).current_dir(dir).envs(envs.iter().copied());
    let (status, output) = run(command, timeout);
    assert!(status.success(), "{program} {args:?} in {} failed ({status}):\n{output}", dir.display());
}

/// Writes a project with `duro new NAME ARGS` in a fresh directory; the
/// directory (kept alive by the `TempDir`) and the project's path.
fn new_project(name: &str, args: &[&str]) -> (TempDir, PathBuf) {
    let dir = TempDir::new();
    let (status, output) = duro_new(dir.path(), &[&[name], args].concat());
    assert!(status.success(), "duro new {name} {args:?} failed:\n{output}");
    assert!(output.contains("next:"), "{output}");
    let project = dir.path().join(name);
    (dir, project)
}

/// Checks that `path` holds a WebAssembly component (not a core module).
fn assert_component(path: &Path) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert_eq!(bytes.get(..8), Some(&b"\0asm\x0d\0\x01\0"[..]), "{} is not a component", path.display());
}

/// A Rust project built and tested the way its README says, offline, in
/// the workspace's target directory; the component's path.
fn build_and_test_rust(project: &Path, module: &str) -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let target = repository().join("target");
    let envs = [("CARGO_TARGET_DIR", target.to_str().unwrap())];
    let component = target.join(format!("wasm32-wasip2/release/{module}.wasm"));
    let _ = std::fs::remove_file(&component);
    let build = ["build", "--offline", "--release", "--target", "wasm32-wasip2"];
    succeeds(project, &cargo, &build, &envs, BUILD_TIMEOUT);
    succeeds(project, &cargo, &["test", "--offline"], &envs, BUILD_TIMEOUT);
    component
}

#[test]
fn a_rust_workflow_builds_and_passes_its_tests() {
    let (_dir, project) = new_project("scaffold-rust-workflow", &["--lang", "rust"]);
    let component = build_and_test_rust(&project, "scaffold_rust_workflow");
    assert_component(&component);
}

#[test]
fn a_rust_activity_builds_and_passes_its_tests() {
    let (_dir, project) = new_project("scaffold-rust-activity", &["--lang", "rust", "--activity"]);
    let source = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
    assert!(source.contains("duro_sdk::activity!(shout);"), "{source}");
    let component = build_and_test_rust(&project, "scaffold_rust_activity");
    assert_component(&component);
}

#[test]
fn a_python_workflow_builds_and_passes_its_test() {
    let venv = repository().join("target/py-toolchain/venv/bin");
    assert!(
        venv.join("componentize-py").is_file(),
        "{} has no componentize-py: run scripts/setup.sh (build_python) first",
        venv.display()
    );
    let (_dir, project) = new_project("scaffold-py", &["--lang", "python"]);
    let path = format!("{}:{}", venv.display(), std::env::var("PATH").unwrap_or_default());
    let envs = [("PATH", path.as_str()), ("DURO_BIN", env!("CARGO_BIN_EXE_duro"))];
    succeeds(&project, "./build.sh", &[], &envs, BUILD_TIMEOUT);
    assert_component(&project.join("scaffold-py.wasm"));
    succeeds(&project, "python3", &["-m", "unittest", "-v"], &envs, TEST_TIMEOUT);
}

#[test]
fn a_javascript_workflow_builds_and_passes_its_test() {
    let tools = repository().join("target/js-toolchain");
    assert!(
        tools.join("node_modules/esbuild").is_dir() && tools.join("build.mjs").is_file(),
        "{} lacks esbuild or build.mjs: run scripts/setup.sh (build_js) first",
        tools.display()
    );
    let (_dir, project) = new_project("scaffold-js", &["--lang", "js"]);
    // What `npm install` would make, from what setup.sh installed: the SDK
    // linked, and its build command running the toolchain's copy of the
    // SDK's build.mjs (whose imports resolve beside it).
    std::fs::create_dir_all(project.join("node_modules/@duro")).unwrap();
    std::fs::create_dir_all(project.join("node_modules/.bin")).unwrap();
    std::os::unix::fs::symlink(repository().join("guest-sdk/js"), project.join("node_modules/@duro/sdk"))
        .unwrap();
    let shim = project.join("node_modules/.bin/duro-build-js");
    std::fs::write(&shim, format!("#!/bin/sh\nexec node '{}' \"$@\"\n", tools.join("build.mjs").display()))
        .unwrap();
    std::fs::set_permissions(&shim, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let envs = [("DURO_BIN", env!("CARGO_BIN_EXE_duro"))];
    succeeds(&project, "npm", &["run", "build"], &envs, BUILD_TIMEOUT);
    assert_component(&project.join("scaffold-js.wasm"));
    succeeds(&project, "npm", &["test"], &envs, TEST_TIMEOUT);
}

#[test]
fn bad_names_used_targets_missing_sdks_and_unsupported_activities_are_refused() {
    let dir = TempDir::new();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    std::fs::create_dir(dir.path().join("used")).unwrap();
    std::fs::write(dir.path().join("used/notes.txt"), "mine").unwrap();
    let missing_sdk = dir.path().join("no-duro-here");
    let refusals: [(&[&str], &str); 7] = [
        (&["My-Flow", "--lang", "rust"], "invalid project name \"My-Flow\""),
        (&["../escape", "--lang", "js"], "invalid project name"),
        (&["fn", "--lang", "rust"], "Cargo reserves it"),
        (&["used", "--lang", "python"], "used already exists and is not empty"),
        (&["flow", "--lang", "python", "--activity"], "the Python SDK cannot write activities yet"),
        (&["flow", "--lang", "js", "--activity"], "the JavaScript SDK cannot write activities yet"),
        (&["flow", "--lang", "js", "--sdk", missing_sdk.to_str().unwrap()], "no duro SDK at"),
    ];
    for (args, message) in refusals {
        let (status, output) = duro_new(dir.path(), args);
        assert_eq!(status.code(), Some(1), "duro new {args:?}:\n{output}");
        assert!(output.contains(message), "duro new {args:?}: expected {message:?} in:\n{output}");
    }
    assert!(!dir.path().join("flow").exists(), "a refused project left files behind");
    assert_eq!(std::fs::read_to_string(dir.path().join("used/notes.txt")).unwrap(), "mine");

    // An existing empty directory is fine.
    let (status, output) = duro_new(dir.path(), &["empty", "--lang", "js"]);
    assert!(status.success(), "{output}");
    assert!(dir.path().join("empty/package.json").is_file());
}

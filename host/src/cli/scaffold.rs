//! `duro new`: writes a new project that builds to a component with one
//! command and carries a test that passes, so an author starts from
//! something that works in their language rather than from the docs.
//!
//! * Rust (`cargo build --release --target wasm32-wasip2`, `cargo test`):
//!   a workflow, or with `--activity` an activity, on the `duro-sdk` crate,
//!   tested natively with `duro_sdk::testing`.
//! * Python (`./build.sh`, `python3 -m unittest`) and JavaScript
//!   (`npm run build`, `npm test`): a workflow on `duro_sdk` or
//!   `@duro/sdk`. Neither SDK has a host-free testing layer, so their test
//!   runs the built component on a throwaway `duro serve`. Neither can
//!   write activities yet, so `--activity` is refused for them.
//!
//! Every workflow template does the same: it sets an event, races a signal
//! against a timer and returns JSON. The SDKs are not published: projects
//! use them from a duro checkout (`--sdk`, by default the one this binary
//! was built from) by absolute path. The WIT is copied into the Python and
//! JavaScript projects, whose build tools read it from a file.
//!
//! The templates are the files under `templates/<lang>/`, embedded in the
//! binary, with `{{name}}`-style placeholders. Manifests are stored as
//! `*.tmpl` (so no tool mistakes them for a real package) and dotfiles
//! without their dot.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

/// The WIT every component is built against: worlds `workflow` and
/// `activity`.
const WIT: &str = include_str!("../../../wit/workflow.wit");

/// The duro checkout this binary was built from: the default `--sdk`.
const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Longest project name, in bytes.
const MAX_NAME_BYTES: usize = 64;

/// Names Cargo refuses for a package: Rust keywords and the standard
/// library's crates (a `-` in a name reads as `_`).
const RESERVED_RUST_NAMES: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
];

/// Options of `duro new`.
#[derive(Debug, Args)]
pub(super) struct NewArgs {
    /// Name of the project: its directory (made in the current one), its
    /// package name, and the name its component is pushed under. Lowercase
    /// ASCII letters, digits, '-' and '_', starting with a letter.
    name: String,
    /// Language of the project.
    #[arg(long, value_enum)]
    lang: Lang,
    /// Write an activity (world `activity`) instead of a workflow; Rust
    /// only, for now.
    #[arg(long)]
    activity: bool,
    /// The duro checkout whose SDK the project uses: the directory holding
    /// `guest-sdk/` and `wit/`. Default: the checkout this duro was built
    /// from.
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// A language `duro new` writes projects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Lang {
    Rust,
    Python,
    Js,
}

/// One file of a project: its path in the project, and its template.
struct Template {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

impl Template {
    const fn new(path: &'static str, text: &'static str) -> Self {
        Self { path, text, executable: false }
    }
}

const RUST_WORKFLOW: &[Template] = &[
    Template::new("Cargo.toml", include_str!("templates/rust/Cargo.toml.tmpl")),
    Template::new(".gitignore", include_str!("templates/rust/gitignore")),
    Template::new("README.md", include_str!("templates/rust/workflow/README.md")),
    Template::new("src/lib.rs", include_str!("templates/rust/workflow/src/lib.rs")),
];

const RUST_ACTIVITY: &[Template] = &[
    Template::new("Cargo.toml", include_str!("templates/rust/Cargo.toml.tmpl")),
    Template::new(".gitignore", include_str!("templates/rust/gitignore")),
    Template::new("README.md", include_str!("templates/rust/activity/README.md")),
    Template::new("src/lib.rs", include_str!("templates/rust/activity/src/lib.rs")),
];

const PYTHON_WORKFLOW: &[Template] = &[
    Template::new(".gitignore", include_str!("templates/python/gitignore")),
    Template::new("README.md", include_str!("templates/python/README.md")),
    Template { path: "build.sh", text: include_str!("templates/python/build.sh"), executable: true },
    Template::new("src/app.py", include_str!("templates/python/src/app.py")),
    Template::new("test_app.py", include_str!("templates/python/test_app.py")),
    Template::new("wit/workflow.wit", WIT),
];

const JS_WORKFLOW: &[Template] = &[
    Template::new(".gitignore", include_str!("templates/js/gitignore")),
    Template::new(".npmrc", include_str!("templates/js/npmrc")),
    Template::new("README.md", include_str!("templates/js/README.md")),
    Template::new("package.json", include_str!("templates/js/package.json.tmpl")),
    Template::new("test.mjs", include_str!("templates/js/test.mjs")),
    Template::new("workflow.js", include_str!("templates/js/workflow.js")),
    Template::new("wit/workflow.wit", WIT),
];

/// `duro new`: checks the name, the target directory and the SDK, writes
/// the project and says what to run next.
///
/// # Errors
/// An invalid name, `--activity` for a language that cannot write
/// activities, a target that exists and is not an empty directory, no SDK
/// at `--sdk`, or a failed write.
pub(super) fn run(args: &NewArgs) -> anyhow::Result<()> {
    check_name(&args.name, args.lang)?;
    let templates = match (args.lang, args.activity) {
        (Lang::Rust, false) => RUST_WORKFLOW,
        (Lang::Rust, true) => RUST_ACTIVITY,
        (Lang::Python, false) => PYTHON_WORKFLOW,
        (Lang::Js, false) => JS_WORKFLOW,
        (Lang::Python, true) => bail!(
            "--activity: the Python SDK cannot write activities yet (workflows call them with \
             duro_sdk.call_activity); write the activity in Rust with --lang rust"
        ),
        (Lang::Js, true) => bail!(
            "--activity: the JavaScript SDK cannot write activities yet (workflows call them with \
             callActivity); write the activity in Rust with --lang rust"
        ),
    };
    let sdk = find_sdk(args.sdk.as_deref(), args.lang)?;
    let dir = Path::new(&args.name);
    check_target(dir)?;

    let values = Placeholders::new(&args.name, &sdk);
    for template in templates {
        let path = dir.join(template.path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&path, values.fill(template.text))
            .with_context(|| format!("cannot write {}", path.display()))?;
        if template.executable {
            make_executable(&path)?;
        }
    }

    let kind = if args.activity { "activity" } else { "workflow" };
    println!("created {} {kind} {} with the SDK at {}:", lang_name(args.lang), args.name, sdk.display());
    for template in templates {
        println!("  {}/{}", args.name, template.path);
    }
    println!("next:");
    println!("  cd {}", args.name);
    for step in next_steps(args.lang) {
        println!("  {}", values.fill(step));
    }
    Ok(())
}

/// Refuses a name that is not a valid package name in every language, or
/// not a Rust crate name for a Rust project.
fn check_name(name: &str, lang: Lang) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|first| first.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= MAX_NAME_BYTES;
    if !valid {
        bail!(
            "invalid project name {name:?}: use up to {MAX_NAME_BYTES} lowercase ASCII letters, digits, \
             '-' and '_', starting with a letter"
        );
    }
    if lang == Lang::Rust && RESERVED_RUST_NAMES.contains(&name.replace('-', "_").as_str()) {
        bail!("invalid project name {name:?}: Cargo reserves it (a Rust keyword or standard crate)");
    }
    Ok(())
}

/// The absolute path of the duro checkout at `sdk` (or the one this binary
/// was built from), once it holds `lang`'s SDK.
fn find_sdk(sdk: Option<&Path>, lang: Lang) -> anyhow::Result<PathBuf> {
    let root = sdk.unwrap_or(Path::new(BUILT_FROM));
    let marker = match lang {
        Lang::Rust => "guest-sdk/Cargo.toml",
        Lang::Python => "guest-sdk/python/duro_sdk/__init__.py",
        Lang::Js => "guest-sdk/js/package.json",
    };
    let hint = "pass --sdk with the path of a duro checkout (the directory holding guest-sdk/ and wit/)";
    if !root.join(marker).is_file() {
        bail!("no duro SDK at {}: {marker} is missing; {hint}", root.display());
    }
    root.canonicalize().with_context(|| format!("cannot resolve {}; {hint}", root.display()))
}

/// Refuses a target that exists and is not an empty directory.
fn check_target(dir: &Path) -> anyhow::Result<()> {
    match fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
        Ok(true) => Ok(()),
        Ok(false) => bail!("{} already exists and is not empty", dir.display()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => {
            Err(error).with_context(|| format!("{} exists and is not a usable directory", dir.display()))
        }
    }
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Rust => "Rust",
        Lang::Python => "Python",
        Lang::Js => "JavaScript",
    }
}

/// The commands that build, test and push a new project, from its
/// directory.
fn next_steps(lang: Lang) -> &'static [&'static str] {
    match lang {
        Lang::Rust => &[
            "cargo build --release --target wasm32-wasip2",
            "cargo test",
            "duro component push target/wasm32-wasip2/release/{{module}}.wasm --name {{name}}",
        ],
        Lang::Python => &[
            "python3 -m venv .venv && .venv/bin/pip install -r {{sdk_python}}/requirements.txt",
            "./build.sh",
            "python3 -m unittest",
            "duro component push {{name}}.wasm --name {{name}}",
        ],
        Lang::Js => {
            &["npm install", "npm run build", "npm test", "duro component push {{name}}.wasm --name {{name}}"]
        }
    }
}

/// The values of the templates' placeholders for one project.
struct Placeholders {
    /// `(placeholder, value)`, each filled in turn.
    values: [(&'static str, String); 6],
}

impl Placeholders {
    fn new(name: &str, sdk: &Path) -> Self {
        let sdk_dir = |sub: &str| sdk.join(sub).display().to_string();
        Self {
            values: [
                ("{{name}}", name.to_owned()),
                // The crate's name as Rust sees it, which names its `.wasm`.
                ("{{module}}", name.replace('-', "_")),
                ("{{sdk}}", sdk.display().to_string()),
                // A JSON string is also a TOML basic string.
                ("{{sdk_rust}}", json_string(&sdk_dir("guest-sdk"))),
                ("{{sdk_python}}", shell_word(&sdk_dir("guest-sdk/python"))),
                ("{{sdk_js}}", json_string(&format!("file:{}", sdk_dir("guest-sdk/js")))),
            ],
        }
    }

    fn fill(&self, template: &str) -> String {
        self.values
            .iter()
            .fold(template.to_owned(), |text, (placeholder, value)| text.replace(placeholder, value))
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `text` as one word of a POSIX shell command: single-quoted.
fn shell_word(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_must_be_package_names() {
        for name in ["greeter", "order-saga", "fan_out2", "a"] {
            assert!(check_name(name, Lang::Rust).is_ok(), "{name}");
        }
        let too_long = "a".repeat(MAX_NAME_BYTES + 1);
        for name in ["", "Greeter", "2fa", "-x", "_x", "a b", "a.b", "a/b", "..", "é", too_long.as_str()] {
            assert!(check_name(name, Lang::Js).is_err(), "{name:?}");
        }
        assert!(check_name("self", Lang::Rust).is_err());
        assert!(check_name("proc-macro", Lang::Rust).is_err());
        assert!(check_name("self", Lang::Python).is_ok());
    }

    #[test]
    fn every_placeholder_is_filled() {
        let values = Placeholders::new("my-flow", Path::new("/opt/it's \"duro\""));
        for template in [RUST_WORKFLOW, RUST_ACTIVITY, PYTHON_WORKFLOW, JS_WORKFLOW].iter().copied().flatten()
        {
            let text = values.fill(template.text);
            assert!(!text.contains("{{"), "{} keeps a placeholder", template.path);
        }
        let manifest = values.fill(RUST_WORKFLOW[0].text);
        assert!(manifest.contains(r#"duro-sdk = { path = "/opt/it's \"duro\"/guest-sdk" }"#), "{manifest}");
        let build = values.fill(PYTHON_WORKFLOW[2].text);
        assert!(build.contains(r#"sdk='/opt/it'\''s "duro"/guest-sdk/python'"#), "{build}");
        let package = values.fill(JS_WORKFLOW[3].text);
        let package = serde_json::from_str::<serde_json::Value>(&package);
        assert!(
            matches!(&package, Ok(package) if package["devDependencies"]["@duro/sdk"] == "file:/opt/it's \"duro\"/guest-sdk/js"),
            "{package:?}"
        );
    }
}

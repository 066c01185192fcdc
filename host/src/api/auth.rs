//! API tokens: who may call which route.
//!
//! `duro serve --auth-tokens FILE` reads a file of bearer tokens, each with a
//! [`Role`]; every request but the open ones ([`OPEN_PATHS`], and `/metrics`
//! unless `--protect-metrics`) must then carry `Authorization: Bearer
//! TOKEN`. A missing or unknown token is answered 401 `unauthorized`, a
//! token whose role is below the route's ([`required_role`]) 403
//! `forbidden`. The roles nest, as Temporal's namespace roles and Hatchet's
//! tenant roles do: each may do what the one below it may.
//!
//! Only SHA-256 digests of the tokens are kept in memory, and the file may
//! hold the digests rather than the tokens (`duro token new` prints both),
//! so a leaked file or core dump does not leak a usable token. A presented
//! token is hashed and compared with every digest in constant time, so the
//! time taken says nothing about how close a guess was. The file is read
//! again on SIGHUP ([`TokenFile::reload`]); a file that does not parse then
//! leaves the tokens in force unchanged.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Error;

/// What a token may do; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// `GET` only: list and inspect components, workflows, journals, logs.
    Reader,
    /// Also start, signal and cancel workflows.
    Operator,
    /// Also push and delete components, replay a workflow against a
    /// component and upgrade it to one.
    Deployer,
    /// Everything, deleting workflows included.
    Admin,
}

impl Role {
    /// The role's name in the token file.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reader => "reader",
            Self::Operator => "operator",
            Self::Deployer => "deployer",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "reader" => Ok(Self::Reader),
            "operator" => Ok(Self::Operator),
            "deployer" => Ok(Self::Deployer),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown role {other:?}: expected reader, operator, deployer or admin")),
        }
    }
}

/// Paths every client may call without a token: the health check (for load
/// balancers and orchestrators) and the API's description.
pub const OPEN_PATHS: &[&str] = &["/healthz", "/v1/openapi.json"];

/// The path of the Prometheus metrics, open unless the server is told to
/// protect it (then it needs a reader token).
pub const METRICS_PATH: &str = "/metrics";

/// Prefix of a token digest in the token file: `sha256:` and 64 hex digits.
const DIGEST_PREFIX: &str = "sha256:";

/// Shortest token accepted in the file, in bytes: a guessable token is no
/// protection. `duro token new` makes 43-character ones (32 random bytes).
const MIN_TOKEN_BYTES: usize = 16;

/// One token of the file: its SHA-256 digest, its role, and a name for logs.
#[derive(Clone)]
struct Token {
    digest: [u8; 32],
    role: Role,
    name: String,
}

/// A parsed token file.
///
/// Each line is `ROLE TOKEN [NAME]`, where `TOKEN` is the bearer token itself
/// or `sha256:` and the 64 hex digits of its SHA-256 digest; blank lines and
/// lines starting with `#` are skipped. `NAME` (default: the line number)
/// names the token in logs.
#[derive(Clone, Default)]
pub struct Tokens {
    tokens: Vec<Token>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens").field("count", &self.tokens.len()).finish()
    }
}

impl Tokens {
    /// Parses a token file's text.
    ///
    /// # Errors
    /// A line that is not `ROLE TOKEN [NAME]`, an unknown role, a malformed
    /// digest, a token shorter than 16 bytes, a token listed twice, or a file
    /// with no token at all; the message names the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut tokens: Vec<Token> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let (Some(role), Some(secret)) = (words.next(), words.next()) else {
                return Err(format!("line {number}: expected `ROLE TOKEN [NAME]`"));
            };
            let role = role.parse::<Role>().map_err(|error| format!("line {number}: {error}"))?;
            let digest = match secret.strip_prefix(DIGEST_PREFIX) {
                Some(hex) => parse_digest(hex)
                    .ok_or_else(|| format!("line {number}: a digest is `sha256:` and 64 hex digits"))?,
                None if secret.len() < MIN_TOKEN_BYTES => {
                    return Err(format!("line {number}: a token must be at least {MIN_TOKEN_BYTES} bytes"));
                }
                None => digest(secret),
            };
            if tokens.iter().any(|token| token.digest == digest) {
                return Err(format!("line {number}: this token is already listed"));
            }
            let name = words.next().map_or_else(|| format!("line-{number}"), str::to_owned);
            if words.next().is_some() {
                return Err(format!("line {number}: expected `ROLE TOKEN [NAME]`, found more words"));
            }
            tokens.push(Token { digest, role, name });
        }
        if tokens.is_empty() {
            return Err("the file lists no token".to_owned());
        }
        Ok(Self { tokens })
    }

    /// The role and name of `presented`, compared with every token's digest
    /// in constant time; `None` if it is not one of them.
    fn find(&self, presented: &str) -> Option<&Token> {
        let presented = digest(presented);
        let mut found = None;
        for token in &self.tokens {
            if bool::from(token.digest.ct_eq(&presented)) {
                found = Some(token);
            }
        }
        found
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are none (never, for a parsed file).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// SHA-256 of `token`.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// `sha256:` and the lowercase hex SHA-256 of `token`: how the token file
/// may hold it.
pub fn token_digest(token: &str) -> String {
    let hex: String = digest(token).iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{DIGEST_PREFIX}{hex}")
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut digest = [0; 32];
    for (byte, pair) in digest.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(digest)
}

/// A token file and the tokens last read from it, shared by every request.
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
    tokens: Arc<RwLock<Arc<Tokens>>>,
}

impl TokenFile {
    /// Reads and parses the file at `path`.
    ///
    /// # Errors
    /// The file cannot be read, or does not parse (see [`Tokens::parse`]).
    pub fn open(path: &Path) -> Result<Self, String> {
        let tokens = read(path)?;
        Ok(Self { path: path.to_owned(), tokens: Arc::new(RwLock::new(Arc::new(tokens))) })
    }

    /// Reads the file again and puts its tokens in force; how many there are.
    ///
    /// # Errors
    /// As [`TokenFile::open`]; the tokens in force are then left unchanged.
    pub fn reload(&self) -> Result<usize, String> {
        let tokens = read(&self.path)?;
        let count = tokens.len();
        *self.tokens.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(tokens);
        Ok(count)
    }

    /// The tokens in force.
    fn current(&self) -> Arc<Tokens> {
        Arc::clone(&self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn read(path: &Path) -> Result<Tokens, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    Tokens::parse(&text).map_err(|error| format!("{}: {error}", path.display()))
}

/// How the API is guarded.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// The tokens, or `None` for an open API.
    pub tokens: Option<TokenFile>,
    /// Whether `/metrics` needs a reader token too (when there are tokens).
    pub protect_metrics: bool,
}

/// The least role that may call `method` on `path`, or `None` for an open
/// path: [`OPEN_PATHS`], the metrics unless protected, and the web
/// console's files (`GET /`, `GET /console/…`), which hold no data.
///
/// `GET` and `HEAD` need [`Role::Reader`]. Pushing or deleting a component,
/// replaying a workflow against a component (which compiles and runs it)
/// and upgrading a workflow need [`Role::Deployer`]; deleting a workflow,
/// which erases its history, needs [`Role::Admin`]; every other call
/// (starting, signalling, cancelling) needs [`Role::Operator`].
pub fn required_role(method: &Method, path: &str, protect_metrics: bool) -> Option<Role> {
    let console_file =
        super::console::is_console_file(path) && (method == Method::GET || method == Method::HEAD);
    if OPEN_PATHS.contains(&path) || (path == METRICS_PATH && !protect_metrics) || console_file {
        return None;
    }
    if method == Method::GET || method == Method::HEAD {
        return Some(Role::Reader);
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let role = match (method, segments.as_slice()) {
        (&Method::POST | &Method::DELETE, ["v1", "components", ..]) => Role::Deployer,
        (&Method::POST, ["v1", "workflows", _, "replay" | "upgrade"]) => Role::Deployer,
        (&Method::DELETE, ["v1", "workflows", ..]) => Role::Admin,
        _ => Role::Operator,
    };
    Some(role)
}

/// Middleware: lets a request through if its path is open or its bearer
/// token's role is at least [`required_role`]; otherwise answers
/// [`Error::Unauthorized`] or [`Error::Forbidden`].
pub(super) async fn authorize(State(access): State<Access>, request: Request, next: Next) -> Response {
    let Some(file) = &access.tokens else {
        return next.run(request).await;
    };
    let Some(needed) = required_role(request.method(), request.uri().path(), access.protect_metrics) else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(presented) = presented else {
        return axum::response::IntoResponse::into_response(Error::Unauthorized(
            "this API needs a token: send `Authorization: Bearer TOKEN`".into(),
        ));
    };
    let tokens = file.current();
    let Some(token) = tokens.find(presented) else {
        return axum::response::IntoResponse::into_response(Error::Unauthorized("unknown token".into()));
    };
    if token.role < needed {
        let message = format!("this call needs the {needed} role; token {} has {}", token.name, token.role);
        return axum::response::IntoResponse::into_response(Error::Forbidden(message));
    }
    tracing::debug!(token = %token.name, role = %token.role, "authorized");
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_follow_the_route_table() {
        let role = |method: Method, path: &str| required_role(&method, path, false);
        assert_eq!(role(Method::GET, "/healthz"), None);
        assert_eq!(role(Method::GET, "/metrics"), None);
        assert_eq!(role(Method::GET, "/"), None);
        assert_eq!(role(Method::GET, "/console/app.js"), None);
        assert_eq!(role(Method::POST, "/console/app.js"), Some(Role::Operator));
        assert_eq!(required_role(&Method::GET, "/metrics", true), Some(Role::Reader));
        assert_eq!(role(Method::GET, "/v1/workflows/x"), Some(Role::Reader));
        assert_eq!(role(Method::POST, "/v1/workflows"), Some(Role::Operator));
        assert_eq!(role(Method::POST, "/v1/workflows/x/signals/go"), Some(Role::Operator));
        assert_eq!(role(Method::POST, "/v1/workflows/x/cancel"), Some(Role::Operator));
        assert_eq!(role(Method::POST, "/v1/components"), Some(Role::Deployer));
        assert_eq!(role(Method::DELETE, "/v1/components/abc"), Some(Role::Deployer));
        assert_eq!(role(Method::POST, "/v1/workflows/x/upgrade"), Some(Role::Deployer));
        assert_eq!(role(Method::POST, "/v1/workflows/x/replay"), Some(Role::Deployer));
        assert_eq!(role(Method::DELETE, "/v1/workflows/x"), Some(Role::Admin));
        assert_eq!(role(Method::PUT, "/v1/anything"), Some(Role::Operator));
    }

    #[test]
    fn the_file_holds_tokens_or_their_digests() -> Result<(), String> {
        let token = "a-token-of-enough-bytes";
        let text = format!("# comment\n\nadmin {token} ci\nreader {}\n", token_digest("another-long-token"));
        let tokens = Tokens::parse(&text)?;
        assert_eq!(tokens.len(), 2);
        let role_and_name = |presented| tokens.find(presented).map(|found| (found.role, found.name.as_str()));
        assert_eq!(role_and_name(token), Some((Role::Admin, "ci")));
        assert_eq!(role_and_name("another-long-token"), Some((Role::Reader, "line-4")));
        assert!(tokens.find("a-token-of-enough-byteS").is_none());
        Ok(())
    }

    #[test]
    fn bad_files_are_refused_with_the_line() {
        for (text, expected) in [
            ("", "no token"),
            ("admin\n", "line 1: expected"),
            ("boss a-token-of-enough-bytes\n", "line 1: unknown role"),
            ("admin short\n", "at least 16 bytes"),
            ("admin sha256:abc\n", "64 hex digits"),
            (
                "admin a-token-of-enough-bytes\nreader a-token-of-enough-bytes\n",
                "line 2: this token is already",
            ),
            ("admin a-token-of-enough-bytes name extra\n", "more words"),
        ] {
            let error = Tokens::parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}

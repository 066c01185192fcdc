//! Which HTTP destinations workflows may reach: deny by default, admit what
//! the operator lists (`duro serve --allow-http PATTERN`).
//!
//! A pattern is `host` (any port), `host:port`, `*.domain` (any subdomain,
//! not the domain itself, optionally with `:port`), or `*` (everything; for
//! development). Hosts compare case-insensitively after URL normalisation,
//! so `LOCALHOST` and `localhost.` name the same host. The check is on the
//! URL, before any DNS lookup: it is a policy on names, not a guard against
//! a name that resolves to a private address.

use std::fmt;
use std::str::FromStr;

use reqwest::Url;

/// One `--allow-http` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `*`: every destination.
    Any,
    /// `host` or `host:port`.
    Host {
        /// The host, normalised (`[::1]` for IPv6).
        host: String,
        /// The port, if the pattern names one.
        port: Option<u16>,
    },
    /// `*.domain` or `*.domain:port`.
    Subdomains {
        /// `.domain`, normalised.
        suffix: String,
        /// The port, if the pattern names one.
        port: Option<u16>,
    },
}

/// A pattern that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --allow-http pattern {pattern:?}: {reason}; expected host, host:port, *.domain or *")]
pub struct PatternError {
    pattern: String,
    reason: String,
}

impl FromStr for Pattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |reason: &str| PatternError { pattern: text.to_owned(), reason: reason.to_owned() };
        if text == "*" {
            return Ok(Self::Any);
        }
        let (wildcard, rest) = match text.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if rest.is_empty() || rest.contains(['/', '?', '#', '@', '*']) {
            return Err(error("a pattern names a host, with an optional port"));
        }
        let url = Url::parse(&format!("http://{rest}")).map_err(|e| error(&e.to_string()))?;
        let host = url.host_str().ok_or_else(|| error("no host"))?.trim_end_matches('.').to_owned();
        // `Url` drops a port equal to the scheme's default; keep what was written.
        let port = match rest.rsplit_once(':') {
            Some((_, port)) if !rest.ends_with(']') => {
                Some(port.parse::<u16>().map_err(|_| error("the port is not a number from 0 to 65535"))?)
            }
            _ => None,
        };
        Ok(if wildcard {
            Self::Subdomains { suffix: format!(".{host}"), port }
        } else {
            Self::Host { host, port }
        })
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (prefix, host, port) = match self {
            Self::Any => return f.write_str("*"),
            Self::Host { host, port } => ("", host.as_str(), port),
            Self::Subdomains { suffix, port } => ("*", suffix.as_str(), port),
        };
        write!(f, "{prefix}{host}")?;
        match port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// The destinations workflows may reach; empty admits nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist(Vec<Pattern>);

impl Allowlist {
    /// An allowlist of `patterns`.
    pub fn new(patterns: Vec<Pattern>) -> Self {
        Self(patterns)
    }

    /// Whether `url` is admitted; its port is the explicit one or the
    /// scheme's default.
    pub fn admits(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else { return false };
        let host = host.trim_end_matches('.');
        let port = url.port_or_known_default();
        let port_matches = |wanted: &Option<u16>| wanted.is_none() || *wanted == port;
        self.0.iter().any(|pattern| match pattern {
            Pattern::Any => true,
            Pattern::Host { host: allowed, port: wanted } => allowed == host && port_matches(wanted),
            Pattern::Subdomains { suffix, port: wanted } => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str()) && port_matches(wanted)
            }
        })
    }

    /// The patterns, for messages.
    pub fn patterns(&self) -> &[Pattern] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn allowlist(patterns: &[&str]) -> Result<Allowlist, PatternError> {
        Ok(Allowlist::new(patterns.iter().map(|p| p.parse()).collect::<Result<_, _>>()?))
    }

    fn admits(list: &Allowlist, url: &str) -> Result<bool, Box<dyn std::error::Error>> {
        Ok(list.admits(&Url::parse(url)?))
    }

    #[test]
    fn empty_denies_everything() -> TestResult {
        assert!(!admits(&Allowlist::default(), "http://127.0.0.1:8080/")?);
        Ok(())
    }

    #[test]
    fn host_admits_any_port_and_host_port_only_that_port() -> TestResult {
        let list = allowlist(&["api.example.com", "127.0.0.1:8080"])?;
        assert!(admits(&list, "https://API.example.com./pay")?);
        assert!(admits(&list, "http://api.example.com:9000/")?);
        assert!(admits(&list, "http://127.0.0.1:8080/x")?);
        assert!(!admits(&list, "http://127.0.0.1:8081/x")?);
        assert!(!admits(&list, "http://127.0.0.1/x")?);
        assert!(!admits(&list, "http://evil.com/?api.example.com")?);
        assert!(!admits(&list, "http://api.example.com.evil.com/")?);
        Ok(())
    }

    #[test]
    fn wildcard_admits_subdomains_not_the_domain() -> TestResult {
        let list = allowlist(&["*.example.com:443"])?;
        assert!(admits(&list, "https://a.example.com/")?);
        assert!(admits(&list, "https://a.b.example.com/")?);
        assert!(!admits(&list, "https://example.com/")?);
        assert!(!admits(&list, "https://badexample.com/")?);
        assert!(!admits(&list, "http://a.example.com/")?);
        Ok(())
    }

    #[test]
    fn ipv6_and_star() -> TestResult {
        assert!(admits(&allowlist(&["[::1]:3000"])?, "http://[::1]:3000/")?);
        assert!(admits(&allowlist(&["*"])?, "https://anything.example/")?);
        Ok(())
    }

    #[test]
    fn bad_patterns_are_refused() -> TestResult {
        for pattern in ["", "*.", "http://x.com", "x.com/path", "x.com:99999", "user@x.com", "a.*.com"] {
            assert!(pattern.parse::<Pattern>().is_err(), "{pattern}");
        }
        Ok(())
    }

    #[test]
    fn patterns_print_as_written() -> TestResult {
        for pattern in ["*", "example.com", "example.com:80", "*.example.com", "*.example.com:8443"] {
            assert_eq!(pattern.parse::<Pattern>()?.to_string(), pattern);
        }
        Ok(())
    }
}

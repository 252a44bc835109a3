//! Per-probe credentials: a file binding each listed probe ID, and the host
//! it may report, to its own secret.
//!
//! With one shared probe token, any holder can pose as any probe or host
//! (squat a silent probe's ID, claim another host's containers). A listed
//! probe ID connects only with its own token and reports only its host; the
//! shared token (if any) still admits unlisted probe IDs.
//!
//! File format, one probe a line, `#` starts a comment:
//! `<probe id> <host id or *> <token>`.

use std::collections::HashMap;
use std::path::Path;

use periscope_report::{HostId, ProbeId};

/// Shortest token accepted: a short token can be guessed over the network.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub probe: ProbeId,
    /// `None` for `*`: any host.
    pub host: Option<HostId>,
    token: String,
}

#[derive(Debug, Clone, Default)]
pub struct Credentials {
    by_probe: HashMap<ProbeId, Credential>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("reading {path}: {error}")]
    Read { path: String, error: std::io::Error },
    #[error("{path}:{line}: expected `<probe id> <host id or *> <token>`")]
    Malformed { path: String, line: usize },
    #[error("{path}:{line}: the token of probe {probe} is shorter than {MIN_TOKEN_LEN} characters")]
    ShortToken { path: String, line: usize, probe: String },
    #[error("{path}:{line}: probe {probe} is listed twice")]
    Duplicate { path: String, line: usize, probe: String },
}

/// Which credential a probe connection presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeAuth {
    /// No token is configured (loopback, no `--probe-token`).
    Open,
    /// The shared probe token.
    Shared,
    /// A per-probe credential: the connection may speak only for this probe and host.
    Bound(Credential),
}

/// Why a probe may not use the ID or host it reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityRefused {
    #[error("probe ID {0} has its own credential; the shared token cannot speak for it")]
    ListedProbe(ProbeId),
    #[error("host {0} belongs to a probe with its own credential; the shared token cannot report it")]
    ListedHost(HostId),
    #[error("this credential belongs to probe {bound}, not {got}")]
    OtherProbe { bound: ProbeId, got: ProbeId },
    #[error("probe {probe} may report host {bound} only, not {got}")]
    OtherHost { probe: ProbeId, bound: HostId, got: HostId },
}

impl Credentials {
    pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
        let shown = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|error| CredentialsError::Read { path: shown.clone(), error })?;
        Credentials::parse(&text, &shown)
    }

    pub fn parse(text: &str, path: &str) -> Result<Credentials, CredentialsError> {
        let mut by_probe = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_number = index + 1;
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [probe, host, token] = fields[..] else {
                return Err(CredentialsError::Malformed { path: path.to_owned(), line: line_number });
            };
            if token.len() < MIN_TOKEN_LEN {
                return Err(CredentialsError::ShortToken {
                    path: path.to_owned(),
                    line: line_number,
                    probe: probe.to_owned(),
                });
            }
            let credential = Credential {
                probe: ProbeId::new(probe),
                host: (host != "*").then(|| HostId::new(host)),
                token: token.to_owned(),
            };
            if by_probe.insert(credential.probe.clone(), credential).is_some() {
                return Err(CredentialsError::Duplicate {
                    path: path.to_owned(),
                    line: line_number,
                    probe: probe.to_owned(),
                });
            }
        }
        Ok(Credentials { by_probe })
    }

    pub fn is_empty(&self) -> bool {
        self.by_probe.is_empty()
    }

    /// The credential whose token is `presented`, compared in constant time per entry.
    pub fn matching(&self, presented: &str) -> Option<&Credential> {
        self.by_probe.values().find(|credential| constant_time_eq(credential.token.as_bytes(), presented.as_bytes()))
    }

    /// Whether a connection authenticated as `auth` may report as `probe` on `host`.
    pub fn check(&self, auth: &ProbeAuth, probe: &ProbeId, host: &HostId) -> Result<(), IdentityRefused> {
        match auth {
            ProbeAuth::Open | ProbeAuth::Shared => {
                if self.by_probe.contains_key(probe) {
                    return Err(IdentityRefused::ListedProbe(probe.clone()));
                }
                if self.by_probe.values().any(|credential| credential.host.as_ref() == Some(host)) {
                    return Err(IdentityRefused::ListedHost(host.clone()));
                }
                Ok(())
            }
            ProbeAuth::Bound(credential) => {
                if credential.probe != *probe {
                    return Err(IdentityRefused::OtherProbe { bound: credential.probe.clone(), got: probe.clone() });
                }
                match &credential.host {
                    Some(bound) if bound != host => Err(IdentityRefused::OtherHost {
                        probe: probe.clone(),
                        bound: bound.clone(),
                        got: host.clone(),
                    }),
                    _ => Ok(()),
                }
            }
        }
    }
}

/// Equal-length byte strings compared without an early exit, so timing tells nothing of a token.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "# probe host token\nweb-1 host-a aaaaaaaaaaaaaaaaaaaa\nany-host * bbbbbbbbbbbbbbbbbbbb  # roaming\n";

    #[test]
    fn parses_and_binds_probe_and_host() {
        let credentials = Credentials::parse(FILE, "f").unwrap();
        let web = credentials.matching("aaaaaaaaaaaaaaaaaaaa").cloned().unwrap();
        let bound = ProbeAuth::Bound(web);
        let (web_id, host_a) = (ProbeId::new("web-1"), HostId::new("host-a"));
        assert_eq!(credentials.check(&bound, &web_id, &host_a), Ok(()));
        assert!(matches!(
            credentials.check(&bound, &web_id, &HostId::new("b")),
            Err(IdentityRefused::OtherHost { .. })
        ));
        assert!(matches!(
            credentials.check(&bound, &ProbeId::new("x"), &host_a),
            Err(IdentityRefused::OtherProbe { .. })
        ));
        assert_eq!(credentials.check(&ProbeAuth::Shared, &web_id, &host_a), Err(IdentityRefused::ListedProbe(web_id)));
        assert_eq!(
            credentials.check(&ProbeAuth::Shared, &ProbeId::new("other"), &host_a),
            Err(IdentityRefused::ListedHost(host_a.clone())),
            "a bound host cannot be claimed with the shared token"
        );
        assert_eq!(credentials.check(&ProbeAuth::Shared, &ProbeId::new("other"), &HostId::new("host-z")), Ok(()));
        let roaming = ProbeAuth::Bound(credentials.matching("bbbbbbbbbbbbbbbbbbbb").cloned().unwrap());
        assert_eq!(credentials.check(&roaming, &ProbeId::new("any-host"), &HostId::new("z")), Ok(()));
        assert!(credentials.matching("nope").is_none());
    }

    #[test]
    fn bad_files_are_clear_errors() {
        assert!(matches!(Credentials::parse("a b", "f"), Err(CredentialsError::Malformed { line: 1, .. })));
        assert!(matches!(Credentials::parse("a b short", "f"), Err(CredentialsError::ShortToken { .. })));
        let twice = "a * aaaaaaaaaaaaaaaaaaaa\na * bbbbbbbbbbbbbbbbbbbb\n";
        assert!(matches!(Credentials::parse(twice, "f"), Err(CredentialsError::Duplicate { line: 2, .. })));
    }
}

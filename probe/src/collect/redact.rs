//! Secrets never leave the host in command lines: the values of flags and
//! variables that look like secrets are replaced before a process's (or a
//! container's) command line goes into a report.
//!
//! A command line is the easiest place to find a credential on a host
//! (`--token X`, `PGPASSWORD=… psql`, `curl https://user:pass@…`), and a
//! report travels to the app and from there to anyone who can read its API.
//! The rules are deliberately broad: a false positive hides one argument; a
//! false negative leaks a secret. `--omit-cmd-args` drops every argument.

/// What a redacted value is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Words that make a flag or variable name look like it holds a secret.
const SECRET_WORDS: &[&str] =
    &["token", "password", "passwd", "pwd", "secret", "key", "credential", "auth", "cookie", "session", "private"];

/// Whether a flag or variable name (`--api-token`, `AWS_SECRET_ACCESS_KEY`) looks like it names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name.trim_start_matches('-').to_ascii_lowercase();
    if name.is_empty() {
        return false;
    }
    SECRET_WORDS.iter().any(|word| name.contains(word))
}

/// Redacts `args` (argv) in place: `--flag=value`, `--flag value`, `NAME=value`
/// for secret-looking names, and the password in any `scheme://user:password@host`.
/// Returns whether anything changed.
pub fn redact_args(args: &mut [String]) -> bool {
    let mut changed = false;
    let mut value_follows = false;
    for (index, arg) in args.iter_mut().enumerate() {
        if value_follows {
            value_follows = false;
            if !arg.starts_with('-') {
                *arg = REDACTED.to_owned();
                changed = true;
                continue;
            }
        }
        if let Some(stripped) = redact_url_password(arg) {
            *arg = stripped;
            changed = true;
        }
        // argv[0] is the program, never a flag.
        if index == 0 {
            continue;
        }
        if let Some((name, value)) = arg.split_once('=') {
            let is_name = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if is_name && is_secret_name(name) && value != REDACTED {
                *arg = format!("{name}={REDACTED}");
                changed = true;
            }
        } else if arg.starts_with('-') && is_secret_name(arg) {
            value_follows = true;
        }
    }
    changed
}

/// A whole command line as one string (Docker's `Path` + `Args`), split on
/// spaces, redacted and joined again.
pub fn redact_command(command: &str) -> String {
    let mut args: Vec<String> = command.split(' ').map(str::to_owned).collect();
    if redact_args(&mut args) {
        args.join(" ")
    } else {
        command.to_owned()
    }
}

/// `https://user:pass@host/…` → `https://user:<redacted>@host/…`; `None` when there is no password.
fn redact_url_password(arg: &str) -> Option<String> {
    let scheme_end = arg.find("://")?;
    let authority_start = scheme_end + 3;
    let rest = &arg[authority_start..];
    let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_len];
    let at = authority.rfind('@')?;
    let userinfo = &authority[..at];
    let colon = userinfo.find(':')?;
    if &userinfo[colon + 1..] == REDACTED {
        return None;
    }
    let mut out = String::with_capacity(arg.len());
    out.push_str(&arg[..authority_start + colon + 1]);
    out.push_str(REDACTED);
    out.push_str(&arg[authority_start + at..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &[&str], expected: &[&str]) {
        let mut args: Vec<String> = input.iter().map(|s| s.to_string()).collect();
        let changed = redact_args(&mut args);
        assert_eq!(args, expected, "{input:?}");
        assert_eq!(changed, input != expected, "{input:?}");
    }

    #[test]
    fn secret_flags_and_variables_lose_their_values() {
        check(&["periscope", "--token", "X"], &["periscope", "--token", REDACTED]);
        check(&["periscope", "--token=X"], &["periscope", "--token=<redacted>"]);
        check(&["app", "--api-key", "k", "--port", "80"], &["app", "--api-key", REDACTED, "--port", "80"]);
        check(&["mysql", "--password=hunter2", "-h", "db"], &["mysql", "--password=<redacted>", "-h", "db"]);
        check(&["httpd", "-f", "-p", "80"], &["httpd", "-f", "-p", "80"]);
        check(
            &["env", "AWS_SECRET_ACCESS_KEY=abc", "PATH=/bin"],
            &["env", "AWS_SECRET_ACCESS_KEY=<redacted>", "PATH=/bin"],
        );
        check(&["env", "DB_PASSWORD=pw", "run"], &["env", "DB_PASSWORD=<redacted>", "run"]);
        check(&["x", "--password", "--verbose"], &["x", "--password", "--verbose"]);
        check(&["nginx", "-g", "daemon off;"], &["nginx", "-g", "daemon off;"]);
        check(&["sleep", "300"], &["sleep", "300"]);
    }

    #[test]
    fn passwords_in_urls_are_hidden() {
        check(&["curl", "https://bob:s3cret@example.com/x?y=1"], &["curl", "https://bob:<redacted>@example.com/x?y=1"]);
        check(&["psql", "postgres://u:p@db:5432/app"], &["psql", "postgres://u:<redacted>@db:5432/app"]);
        check(&["wget", "http://user@example.com/"], &["wget", "http://user@example.com/"]);
        check(&["wget", "http://example.com/a@b"], &["wget", "http://example.com/a@b"]);
    }

    #[test]
    fn redacting_twice_changes_nothing_more() {
        let mut args: Vec<String> = ["a", "--token", "X", "https://u:p@h"].iter().map(|s| s.to_string()).collect();
        assert!(redact_args(&mut args));
        let once = args.clone();
        redact_args(&mut args);
        assert_eq!(args, once);
    }

    #[test]
    fn container_commands() {
        assert_eq!(redact_command("httpd -f -p 80"), "httpd -f -p 80");
        assert_eq!(redact_command("periscope --token X"), "periscope --token <redacted>");
        assert_eq!(redact_command("sh -c sleep 300"), "sh -c sleep 300");
        assert_eq!(redact_command("app --secret=x"), "app --secret=<redacted>");
    }
}

//! The `periscope` binary refuses unsafe settings at start, each with a
//! message that says what to do: a bind beyond loopback without a token,
//! an empty or short token, the same token for people and probes.

use std::process::Command;

/// Runs the app with `args` and `env`; it must exit non-zero at once. Returns its stderr.
fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_periscope"));
    command.args(args).env_remove("PERISCOPE_TOKEN").env_remove("PERISCOPE_PROBE_TOKEN");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("running periscope");
    assert!(!output.status.success(), "{args:?} {env:?} started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unsafe_settings_are_refused_with_a_how_to() {
    let beyond = refused(&["--listen", "0.0.0.0:0"], &[]);
    assert!(beyond.contains("PERISCOPE_TOKEN") && beyond.contains("openssl rand"), "{beyond}");

    let empty = refused(&["--listen", "127.0.0.1:0"], &[("PERISCOPE_TOKEN", "")]);
    assert!(empty.contains("empty"), "{empty}");
    let blank = refused(&["--listen", "127.0.0.1:0", "--token", "   "], &[]);
    assert!(blank.contains("empty"), "{blank}");
    let short = refused(&["--listen", "127.0.0.1:0", "--token", "secret"], &[]);
    assert!(short.contains("at least 16"), "{short}");
    let short_probe = refused(&["--listen", "127.0.0.1:0"], &[("PERISCOPE_PROBE_TOKEN", "abc")]);
    assert!(short_probe.contains("probe token"), "{short_probe}");

    let same = "same-token-for-both-0123";
    let shared = refused(&["--listen", "127.0.0.1:0", "--token", same, "--probe-token", same], &[]);
    assert!(shared.contains("must differ"), "{shared}");

    let remote_probes = refused(&["--listen", "0.0.0.0:0", "--no-probe", "--token", "ui-token-0123456789abcdef"], &[]);
    assert!(remote_probes.contains("PERISCOPE_PROBE_TOKEN"), "{remote_probes}");
}

# The probe image: the static (musl) `periscope-probe` alone on an empty base,
# so it builds without pulling anything. From the repository root:
#
#   cargo build --profile image --target x86_64-unknown-linux-musl -p periscope-probe --bin periscope-probe
#   docker build -f deploy/probe.Dockerfile -t periscope-probe .
#
# Run it as README.md ("Run on your hosts") says: the host's pid and network
# namespaces, the Docker socket, the host's cgroup hierarchy, and only the
# capabilities listed there.
FROM scratch
COPY target/x86_64-unknown-linux-musl/image/periscope-probe /periscope-probe
ENTRYPOINT ["/periscope-probe"]

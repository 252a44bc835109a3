# The app image: the static (musl) `periscope`, built without the built-in
# probe (each host runs its own probe), alone on an empty base. From the
# repository root:
#
#   cargo build --profile image --target x86_64-unknown-linux-musl -p periscope --no-default-features --features jemalloc --bin periscope
#   docker build -f deploy/app.Dockerfile -t periscope .
#
# It listens on 0.0.0.0:4040 inside the container, which needs a UI token and
# a probe token (README.md, "Run on your hosts"); history goes to /history:
#   docker run -d -p 4040:4040 -e PERISCOPE_TOKEN="$UI_TOKEN" -e PERISCOPE_PROBE_TOKEN="$TOKEN" \
#     -v periscope-history:/history periscope
FROM scratch
COPY target/x86_64-unknown-linux-musl/image/periscope /periscope
EXPOSE 4040
ENV PERISCOPE_LISTEN=0.0.0.0:4040 PERISCOPE_DATA_DIR=/history
ENTRYPOINT ["/periscope", "--no-probe"]

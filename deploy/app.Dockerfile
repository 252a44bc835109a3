# The app image: the static (musl) `periscope`, built without the built-in
# probe (each host runs its own probe), alone on an empty base. From the
# repository root:
#
#   cargo build --profile image --target x86_64-unknown-linux-musl -p periscope --no-default-features --bin periscope
#   docker build -f deploy/app.Dockerfile -t periscope .
#
# It listens on 0.0.0.0:4040 inside the container, which needs a token:
#   docker run -d -p 4040:4040 -e PERISCOPE_TOKEN="$TOKEN" periscope
FROM scratch
COPY target/x86_64-unknown-linux-musl/image/periscope /periscope
EXPOSE 4040
ENV PERISCOPE_LISTEN=0.0.0.0:4040
ENTRYPOINT ["/periscope", "--no-probe"]

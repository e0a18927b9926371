# poolshift container image: `docker build -t poolshift .`
# Build stage: the release binaries (poolshift and the kubectl plugin kubectl-poolshift).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin poolshift --bin kubectl-poolshift

# Runtime stage: CA certificates for the cloud and Kubernetes APIs, a non-root user, nothing else.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /home/poolshift poolshift
COPY --from=build /src/target/release/poolshift /src/target/release/kubectl-poolshift /usr/local/bin/
USER 10001:10001
WORKDIR /home/poolshift
ENTRYPOINT ["/usr/local/bin/poolshift"]
CMD ["--help"]

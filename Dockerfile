# portalctl in a small image. Build: docker build -t portalctl .
# (Not built in this project's CI: its machines have no Docker engine.)
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY schemas ./schemas
RUN cargo build --release --locked --bin portalctl

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/portalctl --create-home portalctl
COPY --from=build /src/target/release/portalctl /usr/local/bin/portalctl
COPY portal-config /etc/portalctl
USER portalctl
WORKDIR /var/lib/portalctl
ENV PORTALCTL_CONFIG=/etc/portalctl/portal.yaml \
    PORTALCTL__DATABASE=sqlite:///var/lib/portalctl/portal.db \
    PORTALCTL__LISTEN=0.0.0.0:3001
EXPOSE 3001
ENTRYPOINT ["portalctl"]
CMD ["serve"]

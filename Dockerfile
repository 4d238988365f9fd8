# syntax=docker/dockerfile:1
# ringroom container image: built on Debian bookworm, run as a non-root user (10001) with only
# the shared libraries the binary links against.
#
#   podman build --format docker --build-arg VERSION=$(git describe --always) -t ringroom .
#   podman run --rm -p 8080:8080 --security-opt seccomp=k8s/seccomp/ringroom.json ringroom
#
# io_uring: Docker >= 25 and containerd >= 2.0 default seccomp profiles block io_uring_setup
# (EPERM) and ringroom exits; run with k8s/seccomp/ringroom.json (docs/operations.md).
# HEALTHCHECK is a Docker-format feature: OCI-format builds drop it (podman warns) and
# Kubernetes ignores it (it uses the probes in k8s/base/deployment.yaml).
ARG BASE=debian:bookworm

# ---- build: the toolchain and -dev packages of build.sh's BUILD_PACKAGES
FROM ${BASE} AS build
ARG VERSION=unknown
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential pkg-config liburing-dev \
        libhttp-parser-dev libssl-dev libjsmn-dev libmongoc-dev libbson-dev libhiredis-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Only the server (the default target would also build ringload, which the image does not
# ship). The runtime package list is derived from what the
# binary really links (ldd -> dpkg -S), so a new library in the Makefile needs no edit here
# (hiredis, for --redis: libhiredis.so.0.14 -> libhiredis0.14 once the Makefile links it).
RUN make -j"$(nproc)" build/ringroom GIT_VERSION="${VERSION}" \
 && build/ringroom --version \
 && mkdir -p /out/web \
 && install -m 0755 build/ringroom /out/ringroom \
 && if [ -d web ]; then cp -a web/. /out/web/; fi \
 && for lib in $(ldd build/ringroom | awk '/=> \//{print $3}'); do \
        real=$(readlink -f "$lib"); \
        dpkg -S "$real" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || dpkg -S "${real#/usr}"; \
    done | cut -d: -f1 | sort -u | grep -vx libc6 > /out/runtime-packages \
 && echo "runtime packages:" $(cat /out/runtime-packages)

# ---- runtime: base + the runtime libraries, the binary, the demo page
FROM ${BASE} AS runtime
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(cat /tmp/runtime-packages) \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && groupadd --system --gid 10001 ringroom \
 && useradd --system --uid 10001 --gid ringroom --home-dir /var/lib/ringroom --no-create-home \
        --shell /usr/sbin/nologin ringroom \
 && install -d -o ringroom -g ringroom -m 0750 /var/lib/ringroom
COPY --from=build /out/ringroom /usr/bin/ringroom
COPY --from=build /out/web /usr/share/ringroom/web
# the op log goes to /var/lib/ringroom/data: mount a volume there (Kubernetes: k8s/base)
ENV RINGROOM_LISTEN=0.0.0.0:8080 \
    RINGROOM_WEB_DIR=/usr/share/ringroom/web \
    RINGROOM_DATA_DIR=/var/lib/ringroom/data
VOLUME ["/var/lib/ringroom"]
# numeric, so that Kubernetes' runAsNonRoot can verify it
USER 10001:10001
WORKDIR /var/lib/ringroom
EXPOSE 8080
# SIGTERM drains (bye + close 1001, /health 503) for up to --drain-timeout; a second one stops at once
STOPSIGNAL SIGTERM
# no curl in the image: bash's /dev/tcp speaks HTTP/1.0 to /health (200 = ok, 503 = draining)
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /health HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/bin/ringroom"]

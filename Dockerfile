# The remixfeed image: one image for the API (`remixfeed serve`), the job workers
# (`remixfeed worker`), migrations (`remixfeed migrate`) and the local Sora simulator.
# docker-compose.yml shows them together with PostgreSQL, Redis and MinIO.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/remixfeed
WORKDIR /src
# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN mkdir -p app accounts feed cameo generation moderation exports migrations \
    && /opt/remixfeed/bin/pip install --quiet . \
    && /opt/remixfeed/bin/pip uninstall --quiet --yes remixfeed
COPY app ./app
COPY accounts ./accounts
COPY feed ./feed
COPY cameo ./cameo
COPY generation ./generation
COPY moderation ./moderation
COPY exports ./exports
COPY migrations ./migrations
RUN /opt/remixfeed/bin/pip install --quiet --no-deps .

FROM python:3.11-slim-bookworm
# Every wheel the service needs bundles its native code (asyncpg, Pillow, PyAV, argon2, granian),
# so the runtime image needs no compiler and no system libraries beyond the base.
RUN useradd --system --uid 10001 --home-dir /var/lib/remixfeed --create-home remixfeed
COPY --from=build /opt/remixfeed /opt/remixfeed
ENV PATH=/opt/remixfeed/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    REMIXFEED_DATA_DIR=/var/lib/remixfeed \
    REMIXFEED_LOG_JSON=true
USER remixfeed
WORKDIR /var/lib/remixfeed
EXPOSE 8000
# Liveness only: readiness (PostgreSQL and Redis reachable) is /health/ready, for the load balancer.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
# SIGTERM (docker stop) is a graceful stop: give it more than the 30 s a server worker may take.
STOPSIGNAL SIGTERM
CMD ["remixfeed", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]

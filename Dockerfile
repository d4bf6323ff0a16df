# The complaints worker (and, with another command, the one-shot search-attribute setup).
#   docker build -t complaints-pipeline .
#   docker run --rm -e TEMPORAL_ADDRESS=host:7233 complaints-pipeline
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    COMPLAINTS_DATA_DIR=/data

WORKDIR /app

# Dependencies first, read from pyproject.toml, so a code change does not reinstall them.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# The project itself (no dev extras, no embedded server). The processes still run from /app,
# where settings.py finds config/ beside it.
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin complaints \
    && mkdir -p /data \
    && chown complaints:complaints /data

# Outbox, post room and alerts (and the stores' SQLite files when COMPLAINTS_DATABASE_URL is not
# set): mount a volume here to keep them.
VOLUME ["/data"]
USER complaints

# Healthy while the Prometheus endpoint answers (when COMPLAINTS_METRICS_PORT is set).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]

# CMD rather than ENTRYPOINT, so `docker run IMAGE python -m ops.register_search_attributes`
# (the compose `setup` service) replaces it cleanly. The worker drains on SIGTERM.
CMD ["python", "worker.py"]

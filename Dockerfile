# SMM Storefront: small image (slim base, only wheels in the final stage), non-root user,
# SQLite data on the /data volume.
#   docker build -t smm-storefront .
#   docker run -d --env-file .env -v smmbot-data:/data smm-storefront
#   docker run --rm --env-file .env smm-storefront smmbot check     (everything, Telegram and panel too)
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
COPY bot ./bot
COPY storage ./storage
# The dependencies at the versions of requirements.lock (`make lock`), then the project alone.
RUN pip install --no-cache-dir --upgrade pip \
 && pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.lock \
 && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/smmbot.sqlite3
# DejaVu Sans: the stats chart's font, Latin and Cyrillic (bot/services/admin/chart.py).
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 smmbot \
 && mkdir /data && chown smmbot:smmbot /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/* && rm -rf /wheels
USER smmbot
# The working directory is the volume too, so even a relative SQLite path (./data/...) lands on it.
WORKDIR /data
VOLUME ["/data"]
# Health = the settings still load and the database (and Redis, if set) answers: what a restart can
# fix. Telegram and the panel are not called every minute: their outages are not the container's
# fault, and `smmbot check` without --offline covers them on demand.
HEALTHCHECK --interval=60s --timeout=30s --start-period=30s --retries=3 \
  CMD ["smmbot", "check", "--offline"]
CMD ["smmbot", "run"]

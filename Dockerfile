# SMM Storefront: small image, non-root user, SQLite data on a volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY bot ./bot
COPY storage ./storage
RUN pip install --no-cache-dir --upgrade pip \
 && pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite+aiosqlite:////data/smmbot.sqlite3
RUN useradd --create-home --uid 10001 smmbot \
 && mkdir /data && chown smmbot:smmbot /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
USER smmbot
WORKDIR /home/smmbot
VOLUME ["/data"]
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
  CMD python -c "import sys; from bot.config import load_settings; load_settings(); sys.exit(0)" || exit 1
CMD ["smmbot", "run"]

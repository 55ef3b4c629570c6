# The newsevents worker (also usable for any other `newsevents` command).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY newsevents ./newsevents
COPY model ./model
COPY streams ./streams
COPY training ./training
COPY samples ./samples
RUN pip install --no-cache-dir . && useradd --create-home newsevents
USER newsevents

# Listen on all interfaces inside the container so the port can be published.
ENV NEWSEVENTS_WEB_HOST=0.0.0.0 \
    NEWSEVENTS_DATA_DIR=/home/newsevents/worker
EXPOSE 6066
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:6066/health', timeout=2)"
CMD ["newsevents", "worker"]

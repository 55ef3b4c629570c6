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
# /health answers 503 when the worker is stuck; with NEWSEVENTS_WEB_TOKEN set it needs the token too.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s \
  CMD python -c "import os, urllib.request as u; u.urlopen(u.Request('http://127.0.0.1:' + os.environ.get('NEWSEVENTS_WEB_PORT', '6066') + '/health', headers={'Authorization': 'Bearer ' + os.environ.get('NEWSEVENTS_WEB_TOKEN', '')}), timeout=2)"
CMD ["newsevents", "worker"]

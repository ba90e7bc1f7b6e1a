# The JMAN tagger app: docker build -t jman-tagger . && docker run -p 8501:8501 jman-tagger
# The REST API instead: docker build --target api -t jman-api . && docker run -p 8000:8000 -e JMAN_API_KEYS=... jman-api
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    STREAMLIT_BROWSER_GATHER_USAGE_STATS=false \
    STREAMLIT_SERVER_HEADLESS=true

WORKDIR /srv/jman

# Dependencies first (cached while only the code changes), installed as the README does. PyPI's Linux
# wheel of torch 2.13.0 is the CUDA build (several GB of nvidia packages); PyTorch's CPU index serves
# 2.13.0+cpu, which satisfies the pin and which pip prefers, so the image stays CPU-only and small.
COPY requirements.txt pyproject.toml README.md ./
COPY jman_core/ jman_core/
RUN pip install --extra-index-url https://download.pytorch.org/whl/cpu -r requirements.txt \
    && pip install --no-deps -e .

# The app, its sample documents and the shipped model(s).
COPY .streamlit/ .streamlit/
COPY app/ app/
COPY sample_docs/ sample_docs/
COPY checkpoints/ checkpoints/

RUN useradd --create-home --uid 10001 jman && mkdir -p runs && chown -R jman /srv/jman  # runs/: the workspace database, jobs
USER jman

# `jman serve`: two gunicorn workers with uvicorn workers (each loads a model once, on its first request), on every
# interface of the container; set JMAN_API_KEYS to require a key, JMAN_CORS_ORIGINS for browser pages.
FROM base AS api
ENV OMP_NUM_THREADS=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://localhost:8000/health', timeout=4).status == 200 else 1)"
CMD ["jman", "serve", "--checkpoints", "checkpoints", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]

# The app (the default target: the last stage).
FROM base AS app
EXPOSE 8501
# python:3.11-slim has no curl; the standard library asks Streamlit's health endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4).read().strip() == b'ok' else 1)"

CMD ["streamlit", "run", "app/streamlit_app.py", "--server.port", "8501", "--server.address", "0.0.0.0"]

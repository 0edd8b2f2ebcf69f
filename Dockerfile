# Pixel Playground: the Streamlit app on CPU-only PyTorch, run as a non-root user.
# Build and run (see docs/deploy.md):
#   docker build -t pixel-playground .
#   docker run --rm -p 8501:8501 pixel-playground
# The image holds the app only: no tests, benchmarks, docs or dev tools (requirements.txt only).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Limits for a shared server (playground/serve/limits.py); override with `docker run -e NAME=value`.
ENV PLAYGROUND_WORKERS=0 \
    PLAYGROUND_MAX_STEPS=200000 \
    PLAYGROUND_MAX_SECONDS=600 \
    PLAYGROUND_MAX_HISTORY=200000 \
    PLAYGROUND_SESSION_GRACE=30 \
    PLAYGROUND_MAX_RUNS=12 \
    PLAYGROUND_TURN_SECONDS=10 \
    PLAYGROUND_MAX_PAGE_RUNS=2 \
    PLAYGROUND_MAX_RUN_MB=256 \
    PLAYGROUND_MAX_MODELS_MB=1536 \
    PLAYGROUND_MAX_LANDSCAPE=2601 \
    PLAYGROUND_MAX_PATH_MB=32 \
    PLAYGROUND_LIVE_REFRESH=0.25 \
    PLAYGROUND_LIVE_STREAM=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin playground
WORKDIR /app

# CPU-only torch from PyTorch's CPU wheel index first (the PyPI wheel pulls in ~3 GB of CUDA);
# requirements.txt's torch==2.13.0 is then already satisfied by 2.13.0+cpu.
COPY requirements.txt ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
    && pip install -r requirements.txt \
    && python -c "import torch; assert torch.version.cuda is None, torch.version.cuda"

# Only what the app needs, owned by root and read-only to the user that runs it.
COPY .streamlit/ ./.streamlit/
COPY playground/ ./playground/
COPY app.py ./

USER playground
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["streamlit", "run", "app.py", "--server.address=0.0.0.0", "--server.port=8501"]

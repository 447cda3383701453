# syntax=docker/dockerfile:1
# vecbridge proxy image: `docker build -t vecbridge .` from the repository root.
# Dependencies are pinned by deploy/docker/constraints.txt (the versions the tests ran with).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_CONSTRAINT=/tmp/constraints.txt
WORKDIR /src
COPY deploy/docker/constraints.txt /tmp/constraints.txt
COPY pyproject.toml ./
COPY proxy ./proxy
COPY adapters ./adapters
# PIP_CONSTRAINT also pins the build backend inside pip's isolated build environment.
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ANONYMIZED_TELEMETRY=False
COPY deploy/docker/constraints.txt /tmp/constraints.txt
COPY --from=build /wheels /tmp/wheels
RUN pip install --constraint /tmp/constraints.txt /tmp/wheels/vecbridge-*.whl \
    && rm -rf /tmp/wheels /tmp/constraints.txt
# A fixed numeric uid lets Kubernetes' runAsNonRoot verify it and fsGroup match it.
RUN groupadd --system --gid 10001 vecbridge \
    && useradd --system --uid 10001 --gid vecbridge --no-create-home \
       --home-dir /var/lib/vecbridge --shell /usr/sbin/nologin vecbridge \
    && mkdir -p /var/lib/vecbridge /etc/vecbridge \
    && chown vecbridge:vecbridge /var/lib/vecbridge
COPY deploy/docker/config.yaml /etc/vecbridge/config.yaml
USER 10001:10001
WORKDIR /var/lib/vecbridge
# Journal, migration state and embedded stores: must outlive the container.
VOLUME ["/var/lib/vecbridge"]
# 8000: apps, /-/status, /metrics. 8081: admin API.
EXPOSE 8000 8081
# urllib instead of curl: the slim image has no curl. Any non-2xx raises -> exit 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/-/status', timeout=4)"]
ENTRYPOINT ["vecbridge", "serve"]
CMD ["--config", "/etc/vecbridge/config.yaml"]

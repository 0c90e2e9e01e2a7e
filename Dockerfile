# The faasq image the manifests in deploy/ run: every console script (faasq-gateway,
# faasq-worker, faasq-provider, faasq-connector, faasq-watchdog), nothing else.
#   docker build -t faasq/faasq:0.1.0 .

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/faasq
WORKDIR /src
COPY . .
# The versions the tests ran with; a wheel first, so the venv holds no source tree.
RUN /opt/faasq/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/faasq/bin/pip install -c constraints.txt /wheels/faasq-*.whl

FROM python:3.11-slim
ENV PATH=/opt/faasq/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=builder /opt/faasq /opt/faasq
# Numeric, so Kubernetes' runAsNonRoot can check it; the manifests' runAsUser is the same.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8080
CMD ["faasq-gateway"]

# A function base image: faasq's watchdog serves the process named by fprocess on :8080.
#   docker build -f deploy/function.Dockerfile -t faasq/function:0.1.0 .
# A function builds on it:
#   FROM faasq/function:0.1.0
#   COPY handler.py /home/app/
#   ENV fprocess="python3 handler.py"

FROM python:3.11-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/faasq
WORKDIR /src
COPY . .
RUN /opt/faasq/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/faasq/bin/pip install -c constraints.txt /wheels/faasq-*.whl

FROM python:3.11-slim
ENV PATH=/opt/faasq/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY --from=builder /opt/faasq /opt/faasq
RUN useradd --uid 10001 --user-group --home-dir /home/app --create-home app
WORKDIR /home/app
USER 10001:10001
EXPOSE 8080
# The watchdog's lock file (/tmp/.lock) is its readiness: /tmp must be writable (an emptyDir
# when the root filesystem is read-only).
HEALTHCHECK --interval=5s --timeout=2s CMD ["python3", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8080/_/health')"]
ENTRYPOINT ["faasq-watchdog"]

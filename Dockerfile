# traefikpy image: the router as a non-root user; `traefikpy` is the entrypoint, so the command
# takes the same flags as Traefik (`--providers.docker=true`, `--entryPoints.web.address=:8000`...).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY traefikpy ./traefikpy
COPY providers ./providers
COPY middlewares ./middlewares
COPY examples ./examples
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin traefikpy

WORKDIR /
USER traefikpy
# web entry point and the dashboard/API (`--api.insecure=true`); both above 1024 for a non-root user
EXPOSE 8000 8080
ENTRYPOINT ["traefikpy"]

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /opt/edgesdk
COPY pyproject.toml README.md ./
COPY edgesdk ./edgesdk
COPY targets ./targets
RUN pip install . && edgesdk --version
WORKDIR /work
ENTRYPOINT ["edgesdk"]
CMD ["--help"]

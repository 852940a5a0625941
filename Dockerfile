# Build the wheel once, then install that same wheel (what `pip install edgesdk` gives a user).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY edgesdk ./edgesdk
RUN pip wheel --no-deps -w /dist .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 TF_CPP_MIN_LOG_LEVEL=2
COPY --from=build /dist /dist
RUN pip install /dist/edgesdk-*.whl && rm -rf /dist && edgesdk --version && edgesdk targets list
WORKDIR /work
ENTRYPOINT ["edgesdk"]
CMD ["--help"]

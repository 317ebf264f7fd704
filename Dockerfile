# One image for every Python service: Python 3.11 + a Java 17 runtime + the project + Spark's Kafka connector.
# The base images are build arguments (upstream defaults; docker-compose.yml passes PYTHON_IMAGE and
# MAVEN_IMAGE through), so a registry mirror or locally built images need no edit here (docs/docker.md).
ARG MAVEN_IMAGE=maven:3.9-eclipse-temurin-17
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Stage 1 fetches the pinned connector jars (jars/pom.xml, profile spark-kafka: the one list) from Maven Central.
FROM ${MAVEN_IMAGE} AS jars
WORKDIR /build
COPY jars/pom.xml jars/pom.xml
RUN mvn -q -B -f jars/pom.xml -P spark-kafka dependency:copy-dependencies -DoutputDirectory=/build/.jars/spark \
 && rm -rf /root/.m2

FROM ${PYTHON_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYSPARK_PYTHON=/usr/local/bin/python \
    PYSPARK_DRIVER_PYTHON=/usr/local/bin/python \
    SPARKIFY_SPARK_JARS_DIR=/app/.jars/spark \
    PYTHONUNBUFFERED=1
WORKDIR /app
# The pinned dependencies first, in their own layer: a change to the project's code rebuilds from the COPY
# below (seconds), not the ~1 GB of wheels.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install --no-cache-dir --disable-pip-version-check -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY --from=jars /build/.jars /app/.jars
COPY README.md ./
COPY contracts contracts
COPY producer producer
COPY training training
COPY streaming streaming
COPY dashboard dashboard
COPY devstack devstack
RUN pip install --no-cache-dir --disable-pip-version-check --no-deps . && rm -rf build *.egg-info
# The non-root user owns the folders the named volumes mount on: an empty volume takes the image folder's
# owner when first mounted, so the services can write there.
RUN useradd --create-home --uid 10001 sparkify && mkdir -p /data /models /checkpoints \
 && chown -R sparkify /data /models /checkpoints
USER sparkify
ENTRYPOINT ["tini", "--"]
CMD ["python", "-m", "streaming", "--help"]

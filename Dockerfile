# One image for every Python service: Python 3.11 + a Java 17 runtime + the project + Spark's Kafka connector.
# Stage 1 fetches the pinned JVM jars (jars/pom.xml) from Maven Central.
FROM maven:3.9-eclipse-temurin-17 AS jars
WORKDIR /build
COPY jars/pom.xml jars/pom.xml
RUN mvn -q -B -f jars/pom.xml -P spark-kafka dependency:copy-dependencies -DoutputDirectory=/build/.jars/spark \
      -DincludeScope=runtime \
      -DincludeArtifactIds=spark-sql-kafka-0-10_2.13,spark-token-provider-kafka-0-10_2.13,kafka-clients,commons-pool2

FROM python:3.11-slim-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps tini \
 && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    PYSPARK_PYTHON=/usr/local/bin/python \
    PYSPARK_DRIVER_PYTHON=/usr/local/bin/python \
    SPARKIFY_SPARK_JARS_DIR=/app/.jars/spark \
    PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY contracts contracts
COPY producer producer
COPY training training
COPY streaming streaming
COPY dashboard dashboard
COPY devstack devstack
RUN pip install --no-cache-dir .
COPY --from=jars /build/.jars /app/.jars
RUN useradd --create-home --uid 10001 sparkify && mkdir -p /data /models /checkpoints \
 && chown -R sparkify /data /models /checkpoints
USER sparkify
ENTRYPOINT ["tini", "--"]
CMD ["python", "-m", "streaming", "--help"]

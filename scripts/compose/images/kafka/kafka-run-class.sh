#!/bin/sh
# java -cp /opt/kafka/libs/* MAIN ARGS (KAFKA_HEAP_OPTS and KAFKA_OPTS as in Kafka's own scripts)
exec java ${KAFKA_HEAP_OPTS:--Xmx256m} -XX:+UseG1GC -Djava.awt.headless=true \
  -Dlog4j2.configurationFile=/opt/kafka/config/log4j2.properties ${KAFKA_OPTS:-} -cp '/opt/kafka/libs/*' "$@"

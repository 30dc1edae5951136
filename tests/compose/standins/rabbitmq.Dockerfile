# Stand-in for rabbitmq:3.13-management: Debian's RabbitMQ (3.10) with the management plugin, the user
# RABBITMQ_DEFAULT_USER/_PASS, data in /var/lib/rabbitmq, rabbitmq-diagnostics for the healthcheck.
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends rabbitmq-server && rm -rf /var/lib/apt/lists/* \
    && rabbitmq-plugins enable --offline rabbitmq_management
COPY rabbitmq-entrypoint.sh /usr/local/bin/
ENTRYPOINT ["/usr/local/bin/rabbitmq-entrypoint.sh"]

"""Messages in and out: task messages from Kafka (the intake), and the brokers the outbox publisher sends result
records (Kafka) and arrival notifications (AMQP) to."""

"""TripClick event producer: date-partitioned JSON-lines logs -> Kafka, in batch or realtime replay."""

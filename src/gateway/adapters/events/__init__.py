"""EventPublisher adapters: NATS JetStream, a JSONL file, or none."""

"""Producer service: generate, profile, download and replay Sparkify event logs into Kafka."""

"""Where a message enters: the MQTT session over paho, its failure descriptions, TLS files and the bounded ingest buffer."""

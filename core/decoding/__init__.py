"""How payloads are read: decoders, decoder rules, Protobuf schemas and the raw Protobuf view."""

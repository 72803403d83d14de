"""Generated protobuf code; see scripts/gen_protos.py."""

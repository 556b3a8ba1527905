"""Reads a reem MCAP recording with the Python `mcap` package, independently of reem's
Rust code, and prints what it found as JSON: message count per topic, each channel's
message encoding, the schema records, and the first message of each topic decoded from
the `reem-hash` payload (docs/FORMAT.md, "Recordings")."""
import json
import sys

from mcap.reader import make_reader


def decode_hash(payload: bytes) -> dict:
    items = []
    while payload:
        n, sep, payload = payload.partition(b":")
        if not sep:
            raise ValueError("an item has no length")
        n = int(n)
        items.append(payload[:n])
        payload = payload[n:]
    return {k.decode(): v.decode(errors="replace") for k, v in zip(items[::2], items[1::2])}


def main(path: str) -> None:
    counts, encodings, schemas, first = {}, {}, {}, {}
    with open(path, "rb") as f:
        reader = make_reader(f)
        summary = reader.get_summary()
        for schema in summary.schemas.values():
            schemas[schema.name] = {"encoding": schema.encoding, "data": schema.data.decode()}
        for channel in summary.channels.values():
            encodings[channel.topic] = channel.message_encoding
        for schema, channel, message in reader.iter_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if channel.topic not in first and channel.message_encoding == "reem-hash":
                first[channel.topic] = decode_hash(message.data)
    print(json.dumps({"counts": counts, "encodings": encodings, "schemas": schemas, "first": first}))


if __name__ == "__main__":
    main(sys.argv[1])

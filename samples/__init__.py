"""Sample data shipped with newsevents: the demo stream (``stream.jsonl``) and its annotations."""

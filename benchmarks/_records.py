"""The JSON-lines records of the offline benchmark scripts."""

import json


def emit(path, rec):
    """Print ``rec`` as one JSON line and append it to ``path``."""
    line = json.dumps(rec)
    print(line, flush=True)
    with open(path, "a") as f:
        f.write(line + "\n")

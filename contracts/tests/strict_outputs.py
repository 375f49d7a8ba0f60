"""The strict record reader now lives in the Python SDK (python/src/sealstream/outputs/strict.py);
this name stays for the contract tests and make_vectors.py."""

from sealstream.outputs.strict import *  # noqa: F401,F403
from sealstream.outputs.strict import EVENT_LEAF_BYTES, MESSAGE_TYPES, RecordError  # noqa: F401

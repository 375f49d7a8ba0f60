"""`verify-outputs` now lives in the Python SDK (python/src/sealstream/outputs/verify.py);
this name stays for the contract tests and make_vectors.py, whose expected verdicts are
this implementation's."""

from sealstream.outputs.verify import CHECKS, verify_outputs  # noqa: F401

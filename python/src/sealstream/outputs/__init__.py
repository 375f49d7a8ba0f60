"""Published outputs (docs/COMMITMENTS.md §4–5): strict record reading and `verify-outputs`."""

from .strict import RecordError, read_decision, read_header, read_lines, read_market_data, strict_loads  # noqa: F401
from .verify import CHECKS, verify_directory, verify_files, verify_outputs, verify_url  # noqa: F401

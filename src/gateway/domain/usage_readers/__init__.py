"""Reading token usage out of provider response bodies, on the fly.

A reader is fed the response body's bytes in order (already content-decoded), in pieces of any
size: the relay hands them over in batches, not as each chunk arrives. It never changes them:
the relay forwards the original bytes and only tees a copy into the reader.
`report()` may be called at any time (also after a cut-off stream) and tells what was seen so far.
"""

from gateway.domain.usage_readers.base import BodyFraming, UsageReader, UsageReport
from gateway.domain.usage_readers.factory import usage_reader_for

__all__ = ["BodyFraming", "UsageReader", "UsageReport", "usage_reader_for"]

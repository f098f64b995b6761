"""Privacy: secrets are redacted from transcript text before it is stored or shipped."""

from collector.privacy.redact import redact
from collector.privacy.scrub import scrub_records

__all__ = ["redact", "scrub_records"]

"""`make bench`: how fast and how lean the archiver is, measured against a local AWS.

Run ``python -m benchmarks --help``. This package must stay import-light: the archiver's
own benchmark process (``benchmarks.worker``) imports it before anything else, and its
memory is what the memory benchmark measures.
"""

"""A local AWS for the demo, the benchmarks and the tests: no account, no network.

``embedded_aws`` runs moto's server, ``transcribe`` is a faithful Amazon Transcribe
double, ``archive_env`` builds the archiver's environment against both, and ``demo`` is
``transcribe-archiver demo``. Everything listens on 127.0.0.1 only.

Kept import-light on purpose: the benchmark worker imports ``local_aws.lambda_context``
into the process whose memory it measures.
"""

"""A local Amazon Transcribe: the JSON API and the output links (see ``double``)."""

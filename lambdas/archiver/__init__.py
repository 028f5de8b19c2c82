"""Transcribe Archiver: archives finished Amazon Transcribe jobs into S3 and DynamoDB."""

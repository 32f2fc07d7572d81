"""Storage ports and adapters: the metadata store (SQL) and the blob store (files or S3)."""

from pertinent.store.metadata_store import Job, MetadataStore

__all__ = ["Job", "MetadataStore"]

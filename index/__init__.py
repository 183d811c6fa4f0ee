"""Ingest real movie catalogs and keep them in one multimodal Qdrant collection."""

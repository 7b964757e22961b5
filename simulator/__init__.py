"""Seeded simulator of Kuaishou live-commerce exports (not ingestion: it writes landing folders)."""

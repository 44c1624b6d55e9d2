"""The Library and Downloads tabs: models on disk and the download queue."""

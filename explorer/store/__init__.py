"""Models on disk: verified, resumable downloads and the local library."""

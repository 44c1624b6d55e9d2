"""Chat without a screen: templates and thinking, the conversation with an engine, saved transcripts and export."""

"""The Chat tab: panes side by side, each driven by one engine worker."""

"""Will it fit, and how fast: the estimate per file, the plan for several panes, the Models tab's batch."""

"""The Models tab: the hardware panel, the table of catalog files with their fit, and the detail of one."""

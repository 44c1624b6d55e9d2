"""The Probes tab: probe runs, the blind comparison and the leaderboard."""

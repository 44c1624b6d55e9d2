"""The Guide view: a first page for a new user (`view.GuideView`)."""

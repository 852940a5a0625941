"""Reporting: Markdown and HTML reports with plots, from saved results only."""

"""What a person reads: a run's plots and HTML page, and the comparison tables and plot."""

from edco.reporting.html import TOP_SAMPLES, render_report

__all__ = ["TOP_SAMPLES", "render_report"]

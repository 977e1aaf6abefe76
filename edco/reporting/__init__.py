"""What a person reads: a run's plots and HTML page, and the comparison tables and plot."""

from edco.exports import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "html": ["TOP_SAMPLES", "render_report"],
    },
)

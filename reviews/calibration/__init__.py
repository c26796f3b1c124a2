"""Judge the judge: how a judge configuration's labels compare with human labels, how far
its stated confidence can be trusted, and what a routing threshold buys."""

from .report import calibration_report

__all__ = ["calibration_report"]

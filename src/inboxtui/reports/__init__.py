"""KPI reports: figures computed in SQL, rendered as Markdown, JSON, CSV or charts."""

from inboxtui.reports.figures import Report, compute_report
from inboxtui.reports.period import Period, PeriodError, make_period

__all__ = ["Period", "PeriodError", "Report", "compute_report", "make_period"]

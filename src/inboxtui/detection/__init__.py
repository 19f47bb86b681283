"""PR-crisis detection: watched topics, window statistics, triggers and incidents.

`detect(db)` runs every enabled topic once; `hook` runs it after each poll's
commit and on a timer; `replay` runs it over a historical stream.
"""

from inboxtui.detection.detector import TopicResult, detect
from inboxtui.detection.incidents import IncidentView, Trigger

__all__ = ["IncidentView", "TopicResult", "Trigger", "detect"]

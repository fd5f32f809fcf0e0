"""Widgets the screens share: the stage bar, the batched log, the step list, the health panel."""

from .health_panel import HealthPanel
from .log_stream import LogStream
from .stage_bar import StageBar
from .step_list import StepList

__all__ = ["HealthPanel", "LogStream", "StageBar", "StepList"]

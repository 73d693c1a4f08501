"""Unified supervision of city-management events (seed task 19): triage and dispatch of
citizen reports, the case workflow with deadlines, hot spots, repeat complaints, trends.

``classifier``: the text classifier trained on history (jieba + scikit-learn);
``config``: the department/deadline table ``config/dispatch.yaml``;
``workflow``: the case lifecycle and its store; ``spatial``: hot spots, repeats, trends;
``live``: the model a running server answers with, and retraining it without a restart.
"""

from gis.cases.errors import (
    CaseNotFound,
    DispatchConfigError,
    DispatchError,
    DispatchInputError,
    IllegalTransition,
    JobNotFound,
    ModelUnavailable,
    RetrainBusy,
)

__all__ = ["CaseNotFound", "DispatchConfigError", "DispatchError", "DispatchInputError",
           "IllegalTransition", "JobNotFound", "ModelUnavailable", "RetrainBusy"]

"""tadt-plugin: the TADT tracker (Target-Aware Deep Tracking, CVPR 2019) for pytracking and the VOT toolkit.

The core (:class:`TadtTracker`, :class:`TadtParams`) imports only torch, torchvision, numpy and OpenCV.
"""
from .errors import BadBoxError, BadFrameError, TadtError, WeightsError
from .params import TadtParams

__version__ = "0.1.0"


def __getattr__(name):  # lazy: importing the package does not load torch until the tracker is used
    if name == "TadtTracker":
        from .tracker import TadtTracker
        return TadtTracker
    raise AttributeError(name)


__all__ = ["TadtTracker", "TadtParams", "TadtError", "BadBoxError", "BadFrameError", "WeightsError"]

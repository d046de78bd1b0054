"""Only job: pick the OpenCV wheel.  opencv-python, opencv-python-headless, opencv-contrib-python and
opencv-contrib-python-headless all install the same `cv2` package and overwrite each other, so when
one of them is already installed (pytracking and VOT users often have the headless one) we depend on
that one instead of adding opencv-python beside it.  Override with TADT_OPENCV=<distribution>."""
import os
from importlib import metadata

from setuptools import setup

OPENCV_WHEELS = ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless")


def opencv_requirement() -> str:
    forced = os.environ.get("TADT_OPENCV")
    if forced:
        return forced
    for dist in OPENCV_WHEELS:
        try:
            metadata.version(dist)
            return dist
        except metadata.PackageNotFoundError:
            continue
    return "opencv-python"


setup(install_requires=[
    "torch>=2.1",
    "torchvision>=0.16",
    "numpy>=1.23",
    opencv_requirement() + ">=4.5",
    "tqdm>=4.60",
    "matplotlib>=3.5",
])

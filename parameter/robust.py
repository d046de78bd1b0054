"""robust: `default` plus what a user expects of a modern tracker when the target is hard to follow.

TADT keeps its target-aware features and matching; four pieces are added, each one parameter, so that an
ablation switches one off (README "Robustness", issue 14):

* a confidence signal (confidence.py): the raw score where the tracker goes, relative to its running mean
  on confident frames; a frame under ``conf_low`` is a low-confidence frame.  ``conf_peak_ratio`` also
  calls a frame low when the best score in the window beats the chosen one by that ratio (the motion
  prior overruled a much better match: a look-alike has taken the target's place);
* re-detection on low-confidence frames (redetection.py): one extra pass over a window
  ``redetect_factor`` times wider, accepted only when it clearly beats the current position;
* a conservative template update on confident frames (template_update.py), anchored to the first frame;
* damped scale changes on low-confidence frames (``low_conf_scale_lr``).
"""
from . import default


def tadt_params():
    return default.tadt_params().replace(
        conf_low=0.35, conf_rate=0.05, conf_peak_ratio=0.0,
        redetect_factor=1.8, redetect_window_weight=0.5, redetect_accept=1.2,
        template_lr=0.01, template_conf=0.8, template_anchor=0.5,
        low_conf_scale_lr=1.0)


def parameters():
    return default.as_pytracking(tadt_params())

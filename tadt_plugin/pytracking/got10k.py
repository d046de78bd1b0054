"""The no-code route: present OTB-layout sequences as a GOT-10k "val" split, so the stock
``python run_tracker.py tadt default --dataset_name got10k_val --sequence NAME`` runs them
(INTEGRATION.md 1.5, option 1).  Frames are symlinked, nothing is copied.

GOT-10k's loader reads ``<got10k_path>/val/list.txt`` (one sequence name per line), lists the ``*.jpg``
files of ``<got10k_path>/val/<name>/`` sorted by ``int(stem)``, and reads ``groundtruth.txt`` with
**comma**-separated x,y,w,h.  So: only ``.jpg`` frames with numeric names work (a PNG sequence cannot
use this route; use ``--dataset_name folder``), and the ground truth is rewritten with commas.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence

from ..atomicfile import atomic_write
from ..errors import TadtError
from ..sequences import find_ground_truth, list_images, load_boxes, write_boxes_atomic


def make_split(src_root, dest_root, names: Optional[Sequence[str]] = None, split: str = "val") -> List[str]:
    src_root, dest = Path(src_root).expanduser().resolve(), Path(dest_root).expanduser().resolve() / split
    if not src_root.is_dir():
        raise TadtError(f"{src_root} is not a folder")
    cands = [p for p in sorted(src_root.iterdir()) if p.is_dir() and find_ground_truth(p) is not None]
    if names:
        by_name = {p.name: p for p in cands}
        missing = [n for n in names if n not in by_name]
        if missing:
            raise TadtError(f"sequence(s) {', '.join(missing)} not found under {src_root}")
        cands = [by_name[n] for n in names]
    done = []
    for seq in cands:
        img_dir = seq / "img" if (seq / "img").is_dir() else seq
        frames = list_images(img_dir)
        if not frames or any(f.suffix.lower() != ".jpg" or not f.stem.isdigit() for f in frames):
            print(f"skipped {seq.name}: GOT-10k's loader needs numbered .jpg frames "
                  f"(use --dataset_name folder for it)")
            continue
        gt = load_boxes(find_ground_truth(seq))
        out = dest / seq.name
        out.mkdir(parents=True, exist_ok=True)
        for f in frames:
            link = out / f.name
            if link.is_symlink() or link.exists():
                if link.is_symlink() and os.readlink(link) == str(f):
                    continue
                link.unlink()
            link.symlink_to(f)
        write_boxes_atomic(out / "groundtruth.txt", gt[: len(frames)], fmt="{:g}", sep=",")
        done.append(seq.name)
    if done:
        lst = dest / "list.txt"
        have = lst.read_text().split() if lst.is_file() else []
        names_all = have + [n for n in done if n not in have]
        atomic_write(lst, "\n".join(names_all) + "\n")
    return done

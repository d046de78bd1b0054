"""derived.DerivedCache: the one cache of packed weights both backbones use."""
import gc

import torch

from tadt_plugin.derived import DerivedCache


def test_a_derived_copy_is_made_once_and_again_when_its_source_changes():
    cache, made = DerivedCache(), []

    def make(t):
        made.append(t.clone())
        return t.sum().item()

    w, b = torch.ones(3), torch.zeros(2)
    assert cache.get(lambda: make(w), w, b) == 3.0 and cache.get(lambda: make(w), w, b) == 3.0
    assert len(made) == 1
    w.mul_(2)                           # in place: the version moves
    assert cache.get(lambda: make(w), w, b) == 6.0 and len(made) == 2
    w.data = torch.full((3,), 5.0)      # new storage, same object and version (what Module.to() does)
    assert cache.get(lambda: make(w), w, b) == 15.0 and len(made) == 3
    b.data = b.data.double()            # a second source counts as much as the first
    assert cache.get(lambda: make(w), w, b) == 15.0 and len(made) == 4
    cache.discard(w, b)
    assert cache.get(lambda: make(w), w, b) == 15.0 and len(made) == 5


def test_freed_sources_drop_their_entries_and_a_reused_id_never_matches():
    cache = DerivedCache()
    w = torch.ones(4)
    old_id = id(w)
    cache.get(lambda: "old", w)
    assert len(cache) == 1
    del w
    gc.collect()
    assert len(cache) == 0
    for _ in range(200):                # a new tensor that happens to get the freed one's id
        v = torch.ones(4)
        if id(v) == old_id:
            break
    assert cache.get(lambda: "new", v) == "new"
    assert len(cache) == 1

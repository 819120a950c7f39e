"""`python -m club_devstack.build_images` (make images): build the runtime and operator images cold,
then warm, push them to the stack's registry and print their sizes and build times.

cold: every layer built again (--no-cache) with empty package caches (uv's, pip's): what a first
build costs, less the base image (made once here; pulled from a registry by users). warm: the same
build again, nothing changed, every layer from podman's cache. edit: a source file changed, as a
developer rebuilds: only the layers from the sources on are built again (that image is then removed).
The cold builds leave the layer cache holding each image's own build stage, so one untimed warm pass
settles it before the warm one is timed.

The registry is the running stack's (CLUB_STACK_FILE, from `make stack`), else one started for the
push and stopped after; both keep their images in the same storage.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from club_devstack import images, registry
from club_devstack import stack as stack_module

# The file the `edit` build changes (one byte more): a source file both images hold.
EDITED = "runtime/src/club_runtime/__init__.py"


@contextlib.contextmanager
def _registry() -> Iterator[registry.RegistryInfo]:
    stack_file = os.environ.get("CLUB_STACK_FILE")
    if stack_file:
        yield stack_module.load_info(Path(stack_file)).registry
        return
    with tempfile.TemporaryDirectory(prefix="club-registry-") as root:
        proc, info = registry.start_registry(Path(root), Path(root) / "logs")
        try:
            yield info
        finally:
            proc.stop()


def _quiet(_: str) -> None:
    return None


def _mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_images", description=__doc__)
    parser.add_argument(
        "--base",
        help=f"base image (default: a Debian base made here with mmdebstrap; users: {images.PUBLIC_BASE})",
    )
    args = parser.parse_args(argv)
    with _registry() as target, images.build_lock():
        base = args.base or images.ensure_debian_base()
        inputs = images.collect_inputs()
        version = images.project_version()
        tag = images.image_tag(version, images.inputs_digest(inputs, base))
        edited = {**inputs, EDITED: inputs[EDITED] + b"\n"}
        edit_tag = images.image_tag(version, images.inputs_digest(edited, base))
        times: dict[str, dict[str, float]] = {"cold": {}, "settle": {}, "warm": {}, "edit": {}}
        for kind, seconds in times.items():
            for name in images.TARGETS:
                images.say(f"{name}: {kind} build")
                # Each step of the cold builds is shown (minutes); the others take seconds.
                progress = images.say if kind == "cold" else _quiet
                if kind == "edit":
                    seconds[name] = images.build_image(
                        name, edit_tag, base, edited, tag_version=False, progress=progress
                    )
                    images.remove(images.local_ref(name, edit_tag))
                else:
                    seconds[name] = images.build_image(
                        name, tag, base, inputs, cold=kind == "cold", progress=progress
                    )
        for name in images.TARGETS:
            images.push(name, [tag, version], target)
        images.say(f"pushed to {target.host}; base {base}")
        print(f"\n{'image':<48} {'size':>8} {'pushed':>8} {'cold':>7} {'warm':>7} {'edit':>7}")
        for name in images.TARGETS:
            ref = f"{target.host}/{name}:{tag}"
            size = images.image_size(images.local_ref(name, tag))
            pushed = images.registry_size(target, ref)
            cold, warm, edit = (times[kind][name] for kind in ("cold", "warm", "edit"))
            print(f"{ref:<48} {_mb(size):>8} {_mb(pushed):>8} {cold:>6.0f}s {warm:>6.0f}s {edit:>6.0f}s")
        print("\nsize: unpacked (podman images); pushed: compressed layers in the registry", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

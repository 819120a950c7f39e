"""The pure parts of the image build: the digest of its inputs that tags an image, the Debian base's
recipe and name, and which lines of podman's output show progress."""

from __future__ import annotations

from pathlib import Path

from club_devstack import images, registry

FILES = {
    "images/Containerfile": b"FROM ${BASE}\n",
    "uv.lock": b"version = 1\n",
    "runtime/src/club_runtime/__init__.py": b"",
}
BASE = "localhost/club-base:bookworm-0123456789ab"


def test_the_digest_does_not_depend_on_the_order_files_were_read_in() -> None:
    reordered = dict(reversed(list(FILES.items())))
    assert images.inputs_digest(reordered, BASE) == images.inputs_digest(FILES, BASE)


def test_any_change_of_content_path_file_set_or_base_changes_the_digest() -> None:
    digest = images.inputs_digest(FILES, BASE)
    changed = [
        {**FILES, "uv.lock": b"version = 2\n"},
        {**FILES, "runtime/src/club_runtime/__init__.py": b"\n"},
        {**FILES, "runtime/src/club_runtime/new.py": b""},
        {k: v for k, v in FILES.items() if k != "uv.lock"},
        {(k.replace("__init__", "init") if k.endswith(".py") else k): v for k, v in FILES.items()},
    ]
    digests = {images.inputs_digest(files, BASE) for files in changed}
    digests.add(images.inputs_digest(FILES, images.PUBLIC_BASE))
    assert digest not in digests
    assert len(digests) == len(changed) + 1


def test_a_path_and_content_cannot_be_confused_with_another_split() -> None:
    assert images.inputs_digest({"a": b"bc"}, BASE) != images.inputs_digest({"ab": b"c"}, BASE)


def test_the_tag_is_the_version_and_a_short_digest() -> None:
    assert images.image_tag("0.1.0", "ab" * 32) == "0.1.0-abababababab"


def test_the_debian_base_is_named_by_its_recipe() -> None:
    ref = images.debian_base_ref()
    assert ref == images.debian_base_ref()
    assert ref.startswith("localhost/club-base:bookworm-")
    argv = images.debian_base_command(Path("out.tar"))
    assert argv[0] == "mmdebstrap"
    assert argv[-2:] == ["bookworm", "out.tar"]
    assert "--include=python3,python3-venv,passwd,ca-certificates" in argv


def test_only_the_build_steps_are_shown_as_progress() -> None:
    assert images.is_build_step("[1/5] STEP 4/6: RUN apt-get update\n")
    assert images.is_build_step("STEP 1/3: FROM localhost/club-base\n")
    assert not images.is_build_step("Get:205 http://deb.debian.org/debian bookworm/main ffmpeg\n")
    assert not images.is_build_step("--> 6945544040b\n")


def test_the_registry_serves_its_storage_on_its_address_and_purges_nothing() -> None:
    config = registry.config("127.0.0.1:5000", Path("store"))
    assert config["http"]["addr"] == "127.0.0.1:5000"
    assert config["storage"] == {
        "filesystem": {"rootdirectory": "store"},
        "maintenance": {"uploadpurging": {"enabled": False}},
    }
    assert registry.RegistryInfo("127.0.0.1:5000").manifest_url("club-runtime", "0.1.0") == (
        "http://127.0.0.1:5000/v2/club-runtime/manifests/0.1.0"
    )


def test_a_run_passes_the_environment_by_name_and_never_its_values() -> None:
    argv = images.run_argv(
        "127.0.0.1:5000/club-runtime:0.1.0",
        ["migrate"],
        env_names=["DATABASE_ADMIN_URL"],
        host_network=True,
    )
    assert argv[argv.index("--env") + 1] == "DATABASE_ADMIN_URL"
    assert argv[-2:] == ["127.0.0.1:5000/club-runtime:0.1.0", "migrate"]
    assert "--read-only" in argv
    assert argv[argv.index("--network") + 1] == "host"
    assert images.run_argv("ref", [])[images.run_argv("ref", []).index("--network") + 1] == "none"

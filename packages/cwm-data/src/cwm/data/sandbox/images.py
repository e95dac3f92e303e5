"""Docker images built offline: a Debian base from a local root filesystem, and repository images.

No registry is ever contacted. The base image is a ``debootstrap --variant=minbase``
root filesystem (Debian packages come from the Debian mirror, like apt) with
python3, venv, git and patch, imported with ``docker import``. A repository image
adds a virtualenv at /opt/venv installed from host-prepared wheels with
``pip --no-index`` and the repository at /repo; it is built with no network.
Both are tagged by a hash of what went into them, so a rebuild happens only
when something changed. A repository image has an unprivileged user ``cwm``
(uid 1000, home /tmp) that owns /repo: sandbox containers run as that user.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cwm.core.errors import CwmError
from cwm.data.sandbox.repo import PreparedRepo

SUITE = "bookworm"  # python3 3.11, the host's version
MIRROR = os.environ.get("CWM_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("python3", "python3-venv", "git", "patch", "procps")
BASE_RECIPE = 2  # bump when the base image's content changes
REPO_RECIPE = 2  # bump when the repository image's Dockerfile changes
WORKDIR = "/repo"
#: the unprivileged user sandbox containers run as (created in every repository image)
USER_ID = 1000
USER = f"{USER_ID}:{USER_ID}"
PATH = "/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_GITCONFIG = "[user]\n\tname = cwm\n\temail = cwm@localhost\n[safe]\n\tdirectory = *\n[init]\n\tdefaultBranch = main\n"
# left out of the base image to keep it small
_PRUNE = (
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
    "usr/share/locale",
    "var/cache/apt",
    "var/lib/apt/lists",
    "var/cache/debconf",
)


def base_tag() -> str:
    recipe = f"{SUITE} {' '.join(PACKAGES)} {BASE_RECIPE}"
    return f"cwm-base:{SUITE}-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}"


def has_image(client: Any, tag: str) -> bool:
    import docker.errors

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base_image(client: Any, *, log: Any = None) -> str:
    """Build the base image unless it exists (debootstrap: about a minute or two); returns its
    tag. debootstrap's output goes to ``log`` (a file) or, without one, to a progress bar."""
    tag = base_tag()
    if has_image(client, tag):
        return tag
    if os.geteuid() != 0:
        raise CwmError(
            f"the base image {tag} is missing and building it runs debootstrap, which needs "
            "root; run `sudo cwm sandbox setup` once, or use --sandbox local"
        )
    if shutil.which("debootstrap") is None:
        from cwm.data.sandbox.engine import apt_install

        apt_install("debootstrap")
    with tempfile.TemporaryDirectory(prefix="cwm-rootfs-") as tmp:
        root = Path(tmp) / "root"
        debootstrap(root, log=log)
        for sub in _PRUNE:
            shutil.rmtree(root / sub, ignore_errors=True)
        (root / "etc" / "gitconfig").write_text(_GITCONFIG)
        archive = Path(tmp) / "rootfs.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(root, arcname=".")
        changes = [f"ENV PATH={PATH}", "ENV LANG=C.UTF-8", 'CMD ["bash"]', "LABEL cwm.image=base"]
        repo, _, version = tag.partition(":")
        client.api.import_image_from_file(
            str(archive), repository=repo, tag=version, changes=changes
        )
    if not has_image(client, tag):
        raise CwmError(f"docker import did not produce {tag}")
    return tag


def debootstrap(root: Path, *, log: Any = None) -> None:
    """A minimal Debian root filesystem with `PACKAGES` in ``root`` (from `MIRROR`)."""
    argv = debootstrap_argv(root)
    if log is not None:
        code, tail = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode, []
    else:
        code, tail = _with_progress(argv, f"building the base image {base_tag()}")
    if code != 0:
        raise CwmError(f"debootstrap failed: {' / '.join(tail) or f'exit {code}'}")


def debootstrap_argv(root: Path) -> list[str]:
    return [
        "debootstrap",
        "--variant=minbase",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(root),
        MIRROR,
    ]


def _with_progress(argv: list[str], desc: str) -> tuple[int, list[str]]:
    """Run ``argv``; each output line advances a bar that shows it. (exit code, last lines)"""
    tail: deque[str] = deque(maxlen=3)
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    assert proc.stdout is not None
    with tqdm(desc=desc, unit=" steps") as bar:
        for line in proc.stdout:
            tail.append(line.strip())
            bar.set_postfix_str(line.strip()[:60], refresh=False)
            bar.update()
    return proc.wait(), list(tail)


def repo_tag(repo: PreparedRepo) -> str:
    digest = hashlib.sha256(f"{base_tag()} {repo.key} {REPO_RECIPE}".encode()).hexdigest()[:12]
    return f"cwm-repo/{repo.name}:{digest}"


def _dockerfile(base: str, import_root: str) -> str:
    pythonpath = WORKDIR if import_root == "." else f"{WORKDIR}/{import_root}"
    return f"""FROM {base}
COPY wheels /tmp/cwm-wheels
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --quiet --no-index --no-cache-dir --disable-pip-version-check \\
    --find-links /tmp/cwm-wheels -r /tmp/cwm-wheels/requirements.txt \\
 && rm -rf /tmp/cwm-wheels
RUN echo "cwm:x:{USER_ID}:{USER_ID}:cwm sandbox:/tmp:/bin/bash" >> /etc/passwd \
 && echo "cwm:x:{USER_ID}:" >> /etc/group
COPY --chown={USER} repo {WORKDIR}
ENV PYTHONPATH={pythonpath} PYTHONDONTWRITEBYTECODE=1 HOME=/tmp
WORKDIR {WORKDIR}
LABEL cwm.image=repo
"""


def build_repo_image(client: Any, repo: PreparedRepo) -> str:
    """The repository image of ``repo`` (built offline unless it exists); returns its tag."""
    tag = repo_tag(repo)
    if has_image(client, tag):
        return tag
    base = build_base_image(client)  # when it is missing: built now, with progress
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = _dockerfile(base, repo.import_root).encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        tar.add(repo.wheels, arcname="wheels")
        tar.add(repo.source, arcname="repo")
    context.seek(0)
    import docker.errors

    try:
        client.images.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            network_mode="none",
            rm=True,
            forcerm=True,
        )
    except docker.errors.BuildError as exc:
        lines = [str(x.get("stream", x.get("error", ""))).strip() for x in exc.build_log]
        raise CwmError(
            f"building {tag} failed: {' / '.join([s for s in lines if s][-3:])}"
        ) from None
    return tag

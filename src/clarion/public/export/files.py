"""The export's side of the disk: the target directory, atomic writes, the manifest, removals."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

MANIFEST = ".clarion-export.json"
#: Changes whenever what the export writes for the same inputs changes (so that every keyed file
#: is rendered again), or the manifest's layout does.
EXPORT_REVISION = 1
#: How temporary files start (a static server never serves them: they are renamed into place).
TEMPORARY_PREFIX = ".export-"


class ExportError(Exception):
    """The export cannot be done as asked (unknown page, ``at_root`` with several pages, a
    target that cannot be written). Its message is one line, for the user."""


def check_target(out: Path) -> None:
    """Refuse at once a target that is a file or lies inside one, or that cannot be created or
    written for lack of permission (``prepare_target`` makes sure, by writing)."""
    if out.exists():
        if not out.is_dir():
            raise ExportError(f"cannot export to {out}: it is a file, not a directory")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ExportError(f"cannot write to {out}: permission denied")
        return
    ancestor = out.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ExportError(f"cannot create {out}: {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ExportError(f"cannot create {out}: permission denied in {ancestor}")


def prepare_target(out: Path) -> None:
    """Create ``out`` and write (and remove) a file in it, or raise ``ExportError``."""
    check_target(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot create {out}: {reason(exc)}") from None
    probe = out / f"{TEMPORARY_PREFIX}{os.getpid()}-probe"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        os.unlink(probe)
    except OSError as exc:
        raise ExportError(f"cannot write to {out}: {reason(exc)}") from None


def reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def write(target: Path, body: bytes) -> None:
    """Write ``body`` to ``target`` atomically (a temporary file renamed into place), so that a
    static server never serves half a file during a re-export; readable by everyone."""
    tmp = target.with_name(f"{TEMPORARY_PREFIX}{os.getpid()}-{target.name}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
    try:
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileNotFoundError:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, 0o644)
        try:
            os.fchmod(fd, 0o644)  # whatever the umask
            view = memoryview(body)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {target}: {reason(exc)}") from None


def read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def file_for(folder: str, rest: str) -> str:
    """The file (relative to the export's directory) of the resource at ``rest`` under a page
    exported in ``folder`` (``"acme/"``, or ``""`` at the root)."""
    if rest == "":
        return folder + "index.html"
    if "." in rest.rsplit("/", 1)[-1]:
        return folder + rest
    return f"{folder}{rest}/index.html"


@dataclass
class Manifest:
    """The files of an export: path relative to the export's directory -> (page id, key, or
    None for a file rendered every time)."""

    files: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def read(cls, out: Path) -> Manifest:
        """The manifest in ``out``; empty when there is none or it cannot be trusted (then
        everything is rendered, and nothing is removed)."""
        try:
            found = orjson.loads((out / MANIFEST).read_bytes())
            if found.get("revision") != EXPORT_REVISION:
                return cls()
            return cls({str(rel): (str(p), k) for rel, (p, k) in found["files"].items()})
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return cls()

    def write(self, out: Path) -> None:
        files = {rel: list(entry) for rel, entry in sorted(self.files.items())}
        write(out / MANIFEST, orjson.dumps({"revision": EXPORT_REVISION, "files": files}))


def remove(out: Path, rel: str) -> Path | None:
    """Remove the file at ``rel`` under ``out`` and the folders this leaves empty; the path
    removed, or None when ``rel`` does not name a place inside ``out`` (nothing outside the
    export is ever removed, whatever a manifest says)."""
    root = out.resolve()
    target = (out / rel).resolve()
    if rel.startswith("/") or ".." in rel.split("/") or not target.is_relative_to(root):
        return None
    try:
        target.unlink(missing_ok=True)
    except OSError as exc:
        raise ExportError(f"cannot remove {target}: {reason(exc)}") from None
    folder = target.parent
    while folder != root and folder.is_relative_to(root):
        try:
            folder.rmdir()  # only when empty
        except OSError:
            break
        folder = folder.parent
    return target

"""Files written whole or not at all: a crash or an error leaves the old file (or none), never half
of the new one. Every output file of a command is written this way; a run folder that must not
exist yet is built in a scratch folder beside it and renamed into place (`scratch_folder`), and a
set of files replacing an earlier set in a folder is written in a scratch folder inside it
(`publishing`). Either way the last step is a rename within one file system.

Scratch files and folders are made private (`mkstemp`, `mkdtemp`); what is put in place gets the
permissions a plain `open` or `mkdir` would have given under the user's umask, so an output is as
readable as any other file the user writes."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from p4pkit.errors import UserError


def _umask() -> int:
    """The process's umask, read without setting it where Linux shows it (setting it, even back,
    would leave other threads' files world-writable for a moment)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def scratch_folder(beside: str | Path) -> Path:
    """A new empty folder beside `beside` to build an output folder in, then rename onto it."""
    beside = Path(beside)
    beside.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=beside.parent, prefix=f".{beside.name}.", suffix=".tmp"))
    folder.chmod(0o777 & ~_umask())
    return folder


@contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` (same folder, so the final rename is atomic) to write to; it
    is renamed onto `path` when the block ends without error and removed when it does not."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(scratch)
        os.chmod(scratch, 0o666 & ~_umask())
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise


@contextmanager
def publishing(folder: str | Path, outputs: Iterable[str]) -> Iterator[Path]:
    """A scratch folder inside `folder` to write a command's output set (the file names `outputs`)
    into. When the block ends without error the set in `folder` is replaced: each file written moves
    in, and a file of the set this run did not write is removed, so a rerun never leaves an earlier
    run's file beside the new ones. On error `folder` is as it was (and is removed again if this
    call made it). Other files in `folder` stay. The scratch folder is inside `folder`, so the moves
    are renames within one file system even when `folder` is a mount or a link elsewhere; they are
    one rename per file, so only an interrupt between two of them could mix the sets."""
    folder, outputs = Path(folder), list(outputs)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--out {folder} is a file", hint="Give a folder (it is created if missing).")
    for name in outputs:
        if (folder / name).is_dir():
            raise UserError(f"--out {folder} holds a folder named {name}, where this command writes a file",
                            hint="Move it away or choose another --out.")
    made = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=folder, prefix=".p4p-", suffix=".tmp"))
    except OSError as error:
        raise UserError(f"cannot write to --out {folder}: {error.strerror or error}", hint="Choose a folder you can write to.") from None
    try:
        yield scratch
        for name in outputs:
            if (scratch / name).exists():
                os.replace(scratch / name, folder / name)
            else:
                (folder / name).unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        if made:
            shutil.rmtree(folder, ignore_errors=True)
        raise
    shutil.rmtree(scratch, ignore_errors=True)

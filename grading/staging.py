"""Stage a submission: copy what a student handed in into a folder only the grader writes.

Every later step (nbgrader, the sandboxed kernels, the checker, the feedback) reads the staged
copy, never the student's folder, so nothing privileged ever opens a path the student controls.
The copy (and the fingerprint that tells whether a submission changed) takes regular files only,
opened without following links, and refuses, each with a note for the student:

- symbolic links, hard links (a second name for a file elsewhere, such as the gradebook), devices,
  FIFOs and sockets;
- names that are not printable text;
- files over :attr:`StagingLimits.file_mb` (nbgrader's own limit for the exchange, 100 MB,
  notebooks included: their outputs count for nothing, and a large one is slimmed, not refused);
- everything after :attr:`StagingLimits.files` files or :attr:`StagingLimits.total_mb` in all.

Folders are walked through file descriptors (``openat`` with ``O_NOFOLLOW``), so a folder swapped
for a link while the copy runs is refused too; a file is read at most one byte past its limit, so
a sparse file of terabytes costs no more than a small one. Nothing here parses a notebook: that
happens on the staged copy (:func:`unreadable_notebooks`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

# Run leftovers that nbgrader ignores anyway; left out silently.
SKIPPED = {".ipynb_checkpoints", "__pycache__"}
CHUNK = 1 << 20


@dataclass(frozen=True)
class StagingLimits:
    """What one submission may hold."""

    files: int = 200
    total_mb: int = 512
    file_mb: int = 100
    depth: int = 8


class _Walk:
    """One walk over a submission: calls ``on_folder(relative)`` and ``on_file(relative, chunks)``
    for what it accepts and collects notes for what it refuses."""

    def __init__(self, limits: StagingLimits, on_folder: Callable, on_file: Callable):
        self.limits, self.on_folder, self.on_file = limits, on_folder, on_file
        self.files, self.bytes, self.notes, self.over_count = 0, 0, [], []

    def run(self, source: Path) -> list[str]:
        try:
            top = _open_submission(source)
        except OSError as error:
            reason = "it is a symbolic link" if error.errno in (errno.ELOOP, errno.ENOTDIR) else os.strerror(error.errno)
            return [f"the submission folder could not be read ({reason}): nothing was graded"]
        try:
            self._folder(top, "", depth=0)
        finally:
            os.close(top)
        if self.over_count:
            shown = ", ".join(self.over_count[:5]) + (", ..." if len(self.over_count) > 5 else "")
            self.notes.append(f"{len(self.over_count)} files were left out ({shown}): a submission may hold at most "
                              f"{self.limits.files} files")
        return self.notes

    def _folder(self, folder_fd: int, relative: str, depth: int) -> None:
        with os.scandir(folder_fd) as entries:
            # What grading needs comes first, so that a folder of junk cannot push it over the limits.
            names = sorted((entry.name for entry in entries), key=lambda name: (
                not name.endswith(".ipynb"), name != "trained_models", name))
        for name in names:
            shown = f"{relative}{name}"
            if name in SKIPPED:
                continue
            if not name.isprintable():
                self.notes.append(f"{shown!r} was left out: its name is not printable text")
                continue
            try:
                info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
            except OSError:
                continue  # gone since the listing
            kind = _kind(info.st_mode)
            if kind == "folder":
                self._subfolder(folder_fd, name, shown, depth)
            elif kind != "file":
                self.notes.append(f"{shown} was left out: it is {kind}, not a regular file; submit the file itself")
            elif info.st_nlink > 1:
                self.notes.append(f"{shown} was left out: it is a hard link (a second name for another file); "
                                  "submit a copy of the file instead")
            else:
                note = self._file(folder_fd, name, shown, info)
                if note:
                    self.notes.append(note)

    def _subfolder(self, folder_fd: int, name: str, shown: str, depth: int) -> None:
        if depth + 1 >= self.limits.depth:
            self.notes.append(f"{shown}/ was left out: folders may nest at most {self.limits.depth} deep")
            return
        try:
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder_fd)
        except OSError:
            self.notes.append(f"{shown}/ was left out: it changed while it was being read")
            return
        try:
            self.on_folder(shown)
            self._folder(child, f"{shown}/", depth + 1)
        finally:
            os.close(child)

    def _file(self, folder_fd: int, name: str, shown: str, info: os.stat_result) -> str | None:
        limits = self.limits
        limit = limits.file_mb * 2**20
        if info.st_size > limit:
            return f"{shown} was left out: it is larger than {limit // 2**20} MB, the most a file like it may have"
        if self.files >= limits.files:
            self.over_count.append(shown)
            return None
        if self.bytes + info.st_size > limits.total_mb * 2**20:
            return f"{shown} was left out: a submission may hold at most {limits.total_mb} MB in all"
        try:
            # O_NONBLOCK: a FIFO swapped in after the check above cannot block the open.
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
        except OSError as error:
            reason = "it is a symbolic link" if error.errno == errno.ELOOP else os.strerror(error.errno)
            return f"{shown} was left out: {reason}"
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
                return f"{shown} was left out: it changed while it was being read"
            # Never more than the size seen above (plus one byte, to notice a file that grew).
            content = _chunks(fd, info.st_size + 1)
            size = self.on_file(shown, content)
            if size > info.st_size:
                return f"{shown} was left out: it changed while it was being read"
        finally:
            os.close(fd)
        self.files += 1
        self.bytes += size
        return None


def _open_submission(source: Path) -> int:
    """A descriptor of ``source`` (``.../<student>/<assignment>``): the two folders a student's
    submission may hold are opened without following links; the course's folders above as they are."""
    source = Path(source)
    parent = os.open(source.parent.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        student = os.open(source.parent.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    finally:
        os.close(parent)
    try:
        return os.open(source.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=student)
    finally:
        os.close(student)


def _chunks(fd: int, limit: int):
    read = 0
    while read < limit:
        chunk = os.read(fd, min(CHUNK, limit - read))
        if not chunk:
            return
        read += len(chunk)
        yield chunk


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def stage(source: Path, destination: Path, limits: StagingLimits = StagingLimits()) -> list[str]:
    """Copy the submission in ``source`` to ``destination`` (which must not exist yet).

    Returns notes for the student, one per thing left out. A ``source`` that is itself not a
    folder (missing, or a link) leaves ``destination`` empty, with a note.
    """
    destination.mkdir(parents=True)
    return copy_folder(source, destination, limits)


def copy_folder(source: Path, destination: Path, limits: StagingLimits = StagingLimits()) -> list[str]:
    """Copy the files of ``source`` into the existing folder ``destination`` as :func:`stage` does."""
    def on_folder(relative: str) -> None:
        (destination / relative).mkdir()

    def on_file(relative: str, chunks) -> int:
        size = 0
        with open(destination / relative, "xb") as out:
            for chunk in chunks:
                out.write(chunk)
                size += len(chunk)
        return size

    return _Walk(limits, on_folder, on_file).run(source)


def fingerprint(source: Path, limits: StagingLimits = StagingLimits()) -> str:
    """SHA-256 over the relative paths and contents of the files :func:`stage` would copy."""
    digest = hashlib.sha256()

    def on_file(relative: str, chunks) -> int:
        content = hashlib.sha256()
        size = 0
        for chunk in chunks:
            content.update(chunk)
            size += len(chunk)
        digest.update(relative.encode("utf-8", "surrogateescape") + b"\0" + content.digest())
        return size

    notes = _Walk(limits, lambda relative: digest.update(relative.encode("utf-8", "surrogateescape") + b"/\0"),
                  on_file).run(source)
    digest.update("\n".join(notes).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


# Objects and lists a notebook's JSON may hold: parsing each costs memory far beyond its text. A
# course notebook with every output holds a few thousand; a forged one could hold millions.
MAX_CONTAINERS = 2_000_000
# A notebook larger than this is slimmed before grading: every output larger than SLIM_OUTPUT_BYTES
# is left out (the grader clears outputs anyway; only the small ones it reads for signals stay).
SLIM_NOTEBOOK_BYTES = 20 * 2**20
SLIM_OUTPUT_BYTES = 64 * 1024


def unreadable_notebooks(folder: Path, expected: list[str], reference: Path | None = None) -> list[str]:
    """Check the staged notebooks, repairing what JupyterLab would accept (:func:`normalise`, with
    the notebook of the same name in the assignment's release folder ``reference``); returns notes
    for the student.

    nbgrader stops at the first notebook it cannot read and throws away what it graded of the
    student; a notebook it cannot read is therefore removed from the staged copy and graded as
    missing (0 points), and a missing one is said to be missing.
    """
    notes = []
    for name in expected:
        path = folder / f"{name}.ipynb"
        if not path.is_file():
            notes.append(f"{name}.ipynb was not submitted: 0 points for it")
            continue
        try:
            text = path.read_bytes()
            if text.count(b"{") + text.count(b"[") > MAX_CONTAINERS:
                raise ValueError(f"it holds more than {MAX_CONTAINERS:,} JSON objects and lists")
            try:
                data = json.loads(text)
            except ValueError:
                data = None  # nbformat says why below
            released = _released_cells(reference, name)
            changed = normalise(data, released)
            if len(text) > SLIM_NOTEBOOK_BYTES and slim(data):
                changed = True
                notes.append(f"{name}.ipynb is {len(text) / 2**20:.0f} MB: its large outputs (figures, long printouts) "
                             "were left out of the graded copy. Outputs count for nothing in grading; your code does")
            if changed:
                path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            nbformat.validate(nbformat.read(path, as_version=4))
        except Exception as error:  # NotJSONError, ValidationError, UnicodeDecodeError, ...
            path.unlink()
            first_line = str(error).splitlines()[0][:120] if str(error) else ""
            notes.append(f"{path.name} is not a readable notebook ({type(error).__name__}: {first_line}), so it was "
                         "graded as missing: 0 points for it. Check that it opens in JupyterLab, and submit it again")
    return notes


def _released_cells(reference: Path | None, name: str) -> list[dict] | None:
    """The cells of the release's notebook ``name`` (the instructor's file), or None without one."""
    if reference is None or not (reference / f"{name}.ipynb").is_file():
        return None
    return json.loads((reference / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]


def slim(data: dict) -> bool:
    """Replace every output larger than :data:`SLIM_OUTPUT_BYTES` with a short note, in place."""
    changed = False
    for cell in data.get("cells") or []:
        outputs = cell.get("outputs") if isinstance(cell, dict) else None
        if not isinstance(outputs, list):
            continue
        for index, output in enumerate(outputs):
            size = len(json.dumps(output))
            if size > SLIM_OUTPUT_BYTES:
                outputs[index] = {"output_type": "display_data", "metadata": {}, "data": {
                    "text/plain": f"(an output of {size / 2**20:.1f} MB, left out when the notebook was graded)"}}
                changed = True
    return changed


VALID_CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # nbformat 4.5's schema
CELL_DEFAULTS = {"metadata": dict, "source": str}
CODE_CELL_DEFAULTS = {"outputs": list, "execution_count": lambda: None}


def normalise(data, released: list[dict] | None = None) -> bool:
    """Repair in place the JSON of a notebook in what JupyterLab would open as it is: cell ids in
    a notebook older than format 4.5 (nbformat's own API and jupytext write them), cells without
    ids or with repeated ones, a missing format version, missing metadata, source or outputs, and
    Windows' line ends in cells.
    With the ``released`` cells of the assignment's notebook, also nbgrader's metadata
    (:func:`own_cells`) and the locked cells a student deleted (:func:`restore_cells`).
    Returns whether anything changed; anything else wrong is left for nbformat to refuse."""
    if not (isinstance(data, dict) and isinstance(data.get("cells"), list) and data.get("nbformat", 4) == 4):
        return False
    changed = False
    if released is not None:
        changed = own_cells(data, [_grade_id(cell) for cell in released if _grade_id(cell)])
        changed = restore_cells(data, released) or changed
    for key, default in (("metadata", {}), ("nbformat", 4), ("nbformat_minor", 4)):
        if key not in data:
            data[key], changed = default, True
    cells = [cell for cell in data["cells"] if isinstance(cell, dict)]
    if any("id" in cell for cell in cells) and isinstance(data["nbformat_minor"], int) and data["nbformat_minor"] < 5:
        data["nbformat_minor"], changed = 5, True  # ids came with 4.5: declare the format the cells are in
    seen = set()
    for cell in cells:
        defaults = {**CELL_DEFAULTS, **(CODE_CELL_DEFAULTS if cell.get("cell_type") == "code" else {})}
        for key, default in defaults.items():
            if key not in cell:
                cell[key], changed = default(), True
        source = cell.get("source")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if isinstance(source, str) and "\r" in source:
            # Windows' line ends (an editor there, or git's autocrlf): the same code to Python, but
            # nbgrader would see every locked cell as edited.
            cell["source"], changed = source.replace("\r\n", "\n").replace("\r", "\n"), True
        if data["nbformat_minor"] >= 5:
            given = cell.get("id")
            if not (isinstance(given, str) and VALID_CELL_ID.fullmatch(given)) or given in seen:
                cell["id"], changed = nbformat.v4.nbbase.random_cell_id(), True
            seen.add(cell["id"])
    return changed


def own_cells(data: dict, grade_ids: list[str]) -> bool:
    """Keep nbgrader's metadata only where it belongs: on the first cell that carries each grade id
    of the notebook's source. Copies of a cell (JupyterLab's copy and paste keeps its metadata), cells
    with a grade id the source does not have, and metadata nbgrader cannot read (not an object, or
    a grade id that is not text) become the student's own cells. nbgrader would otherwise empty
    the first copy's metadata and then fail the whole submission; and a grade id is written into
    the formgrader's page as it is. Returns whether anything changed."""
    known, seen, changed = set(grade_ids), set(), False
    for cell in data["cells"]:
        metadata = cell.get("metadata") if isinstance(cell, dict) else None
        if not isinstance(metadata, dict) or "nbgrader" not in metadata:
            continue
        nbgrader = metadata["nbgrader"]
        grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        if isinstance(grade_id, str) and grade_id in known and grade_id not in seen:
            seen.add(grade_id)
            continue
        del metadata["nbgrader"]
        changed = True
    return changed


def _grade_id(cell) -> str | None:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def restore_cells(data: dict, released: list[dict]) -> bool:
    """Put back the cells of the release that the student's notebook lacks and that are not the
    student's to write: tests, given code, written answers (an empty one). Each goes right after
    the cell that comes before it in the release, wherever that is in the student's notebook
    (nbgrader's own restoring fails when that cell is locked and ungraded). Returns whether any
    was put back."""
    changed = False
    for position, cell in enumerate(released):
        grade_id = _grade_id(cell)
        nbgrader = cell["metadata"]["nbgrader"] if grade_id else {}
        if not grade_id or (nbgrader.get("solution") and not nbgrader.get("grade")):
            continue  # not nbgrader's, or the student's own code
        present = {_grade_id(existing): index for index, existing in enumerate(data["cells"])}
        if grade_id in present:
            continue
        before = [present[_grade_id(earlier)] for earlier in released[:position] if _grade_id(earlier) in present]
        after = [present[_grade_id(later)] for later in released[position + 1:] if _grade_id(later) in present]
        where = max(before) + 1 if before else (min(after) if after else len(data["cells"]))
        restored = {"cell_type": cell["cell_type"], "metadata": json.loads(json.dumps(cell["metadata"])),
                    "source": cell["source"]}
        if cell["cell_type"] == "code":
            restored.update(outputs=[], execution_count=None)
        data["cells"].insert(where, restored)
        changed = True
    return changed


def remove(folder: Path) -> None:
    """Delete a staged (or graded) folder; never follows links (``shutil.rmtree`` does not)."""
    shutil.rmtree(folder, ignore_errors=True)

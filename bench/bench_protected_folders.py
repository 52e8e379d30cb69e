"""Which files lie in a protected folder, asked for every file of a library (what suggesting
removals for every group asks).

    python bench/bench_protected_folders.py [--files N] [--folders N]

The files are real, in real folders (one of them linked under another name), so every path
is resolved as it would be in a library. The figure to compare: `protected_folder_of`, which
resolves each path afresh (what the removal code asks), against `ProtectedFolders`, which
resolves the protected folders once and each file's folder once, measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))

from stash_dedupe.library_paths import ProtectedFolders, protected_folder_of  # noqa: E402


def make_library(root: Path, files: int, folders: int) -> list[str]:
    paths = []
    for index in range(files):
        folder = root / "library" / f"studio {index % folders:03d}" / "scenes"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"scene {index:06d}.mp4"
        path.touch()
        paths.append(str(path))
    (root / "library" / "old name").symlink_to(root / "library" / "studio 007")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=25_000)
    parser.add_argument("--folders", type=int, default=300, help="folders the files are in")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        paths = make_library(root, args.files, args.folders)
        protected = [str(root / "library" / "old name"), str(root / "archive")]

        started = time.perf_counter()
        fresh = [protected_folder_of(path, protected) for path in paths]
        fresh_seconds = time.perf_counter() - started

        started = time.perf_counter()
        index = ProtectedFolders(protected)
        indexed = [index.folder_of(path) for path in paths]
        indexed_seconds = time.perf_counter() - started

    assert fresh == indexed, "the index must answer as the rule does"
    inside = sum(answer is not None for answer in fresh)
    print(f"{args.files:,} files in {args.folders} folders, 2 protected folders ({inside} inside)")
    print(f"  resolved afresh (removal check):  {fresh_seconds * 1000:8.1f} ms")
    print(f"  ProtectedFolders (suggestions):   {indexed_seconds * 1000:8.1f} ms")
    print(f"  ratio: {fresh_seconds / indexed_seconds:.1f}x faster")


if __name__ == "__main__":
    main()

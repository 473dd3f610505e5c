"""The download folder (sara_lab.downloads.DownloadFolder): emptied by age, in the background."""

from __future__ import annotations

import gc
import os
import time

from sara_lab.downloads import DownloadFolder


def _old(path, age_s: float) -> None:
    then = time.time() - age_s
    os.utime(path, (then, then))


def test_old_files_go_in_the_background_without_a_new_save(tmp_path):
    folder = DownloadFolder(max_age_s=60, every_s=0.1)
    try:
        fresh, stale = folder.path / "fresh.safetensors", folder.path / "stale.safetensors"
        fresh.write_bytes(b"x")
        stale.write_bytes(b"x")
        _old(stale, 120)
        end = time.monotonic() + 10
        while stale.exists() and time.monotonic() < end:
            time.sleep(0.05)
        assert not stale.exists() and fresh.exists()
        assert folder.files() == [fresh]
    finally:
        folder.close()
    assert not fresh.parent.exists()


def test_a_dropped_folder_ends_its_thread():
    folder = DownloadFolder(max_age_s=60, every_s=0.05)
    folder.path  # noqa: B018 - made on first use, with its thread
    thread = folder._thread
    path = folder.path
    del folder
    gc.collect()
    thread.join(5)
    assert not thread.is_alive()
    path.rmdir()

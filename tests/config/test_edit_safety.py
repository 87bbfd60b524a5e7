"""Editing feeds.yaml keeps the file the user set up: symlink, mode, owner, mount."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from aggregator.cli.main import main
from aggregator.config import edit as config_edit
from aggregator.config.models import load_config
from aggregator.exceptions import ConfigError

CONFIG = """\
# the desk's config
database: sqlite:///agg.db
feeds:
  - name: first   # keep me
    url: http://127.0.0.1:9/first.xml
"""


def write(path: Path, mode: int = 0o644) -> Path:
    path.write_text(CONFIG, encoding="utf-8")
    path.chmod(mode)
    return path


def names(path: Path) -> list[str]:
    return [f.name for f in load_config(path).feeds]


def test_edit_through_a_symlink_updates_the_target(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    target = write(tmp_path / "etc" / "feeds.yaml")
    link = tmp_path / "feeds.yaml"
    link.symlink_to(target)
    config_edit.set_enabled(link, "first", False)
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert "enabled: false" in target.read_text()
    assert "# keep me" in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["etc", "feeds.yaml"]
    assert sorted(p.name for p in (tmp_path / "etc").iterdir()) == ["feeds.yaml"]


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o664])
def test_edit_keeps_the_mode(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "feeds.yaml", mode)
    config_edit.set_enabled(path, "first", False)
    assert stat.S_IMODE(path.stat().st_mode) == mode


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_edit_keeps_the_owner(tmp_path: Path) -> None:
    path = write(tmp_path / "feeds.yaml")
    os.chown(path, 4321, 4322)
    config_edit.set_enabled(path, "first", False)
    st = path.stat()
    assert (st.st_uid, st.st_gid) == (4321, 4322)


def test_a_read_only_file_is_refused_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "feeds.yaml", 0o444)
    with pytest.raises(ConfigError) as info:
        config_edit.set_enabled(path, "first", False)
    assert "read-only" in info.value.message and str(path) in info.value.message
    assert info.value.hint
    assert path.read_text() == CONFIG
    assert main(["--config", str(path), "feeds", "disable", "first"]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err and "Traceback" not in err
    assert path.read_text() == CONFIG


def test_when_rename_is_impossible_the_file_is_rewritten_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Docker single-file bind mount refuses rename(2) onto it with EBUSY."""
    path = write(tmp_path / "feeds.yaml")
    inode = path.stat().st_ino

    def busy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(dst))

    monkeypatch.setattr(os, "replace", busy)
    monkeypatch.setattr(os, "rename", busy)
    config_edit.set_enabled(path, "first", False)
    assert path.stat().st_ino == inode  # the same file, rewritten
    assert "enabled: false" in path.read_text() and "# keep me" in path.read_text()
    assert names(path) == ["first"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.yaml"]  # no temp file left
    # an invalid edit is still refused before anything is written
    before = path.read_text()
    with pytest.raises(ConfigError):
        config_edit.add_feed(path, {"name": "bad", "url": "not a url"})
    assert path.read_text() == before


def test_a_shorter_in_place_rewrite_leaves_no_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG + "  - name: second\n    url: http://127.0.0.1:9/second.xml\n")

    def busy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(dst))

    monkeypatch.setattr(os, "replace", busy)
    config_edit.remove_feed(path, "second")
    assert names(path) == ["first"] and "second" not in path.read_text()

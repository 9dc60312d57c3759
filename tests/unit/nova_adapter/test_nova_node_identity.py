"""The compute node identity: zcompute's data directory and Nova's compute_id agree.

Nova's compute manager refuses to start a service it knows unless ``compute_id`` is in its
``state_path``; a zcompute compute service must therefore be able to start again (found by
zcompute's cloud, whose nova-compute services are restarted; Nova's harness mocks the check).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nova import exception
from nova.virt import node

from zcompute.nova._driver import _NODE_ID_FILE, _node_uuid


@pytest.fixture
def state_path(nova_conf: Any, tmp_path: Path) -> Iterator[Path]:
    state = tmp_path / "state"
    state.mkdir()
    # parsed (no files, no arguments) as a service's CONF is: Nova's identity lookup reads
    # the config_file option, which exists only once CONF has been called
    nova_conf(args=[], default_config_files=[])
    nova_conf.set_override("state_path", str(state))
    yield state
    nova_conf.clear_override("state_path")
    nova_conf.clear()


def test_first_start_writes_both(state_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    value = _node_uuid(data)
    assert (data / _NODE_ID_FILE).read_text().strip() == value
    assert node.read_local_node_uuid() == value
    assert _node_uuid(data) == value  # a second start: the same node


def test_existing_data_dir_gets_nova_file(state_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ours = str(uuid.uuid4())
    (data / _NODE_ID_FILE).write_text(ours + "\n")  # a service started before this fix
    assert _node_uuid(data) == ours
    assert node.read_local_node_uuid() == ours


def test_nova_file_wins_for_a_new_data_dir(state_path: Path, tmp_path: Path) -> None:
    novas = str(uuid.uuid4())
    (state_path / "compute_id").write_text(novas)
    data = tmp_path / "data"
    data.mkdir()
    assert _node_uuid(data) == novas
    assert (data / _NODE_ID_FILE).read_text().strip() == novas


def test_disagreement_is_refused(state_path: Path, tmp_path: Path) -> None:
    (state_path / "compute_id").write_text(str(uuid.uuid4()))
    data = tmp_path / "data"
    data.mkdir()
    (data / _NODE_ID_FILE).write_text(str(uuid.uuid4()))
    with pytest.raises(exception.InvalidConfiguration):
        _node_uuid(data)

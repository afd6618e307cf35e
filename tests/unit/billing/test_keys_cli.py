"""`gateway keys` against a real ledger file named by a config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.adapters.billing import ledger_store
from gateway.cli.keys import main
from gateway.domain.secrets import key_hash


@pytest.fixture
def conf(tmp_path: Path) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(f"billing:\n  mode: local\n  local_db: {tmp_path / 'ledger.sqlite3'}\n")
    return str(path)


def test_add_prints_the_key_once_and_stores_only_its_hash(
    conf: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["add", "alice", "--quota", "500", "-conf", conf])
    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert key.startswith("gw-") and len(key) > 40
    conn = ledger_store.connect(tmp_path / "ledger.sqlite3")
    assert ledger_store.key_state(conn, key_hash(key)) == ledger_store.KeyState(500, 0, False)
    assert key not in "\n".join(conn.iterdump())
    main(["list", "-conf", conf])
    listing = capsys.readouterr().out
    assert "alice" in listing and key not in listing and key[:10] in listing


def test_revoke_by_name_or_prefix_and_refuse_ambiguity(
    conf: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["add", "alice", "-conf", conf])
    alice = capsys.readouterr().out.strip().splitlines()[-1]
    main(["add", "bob", "-conf", conf])
    with pytest.raises(SystemExit, match="exists already"):
        main(["add", "bob", "-conf", conf])
    with pytest.raises(SystemExit, match="no key"):
        main(["revoke", "gw-", "-conf", conf])  # too short to be a prefix
    main(["revoke", alice[:9], "-conf", conf])
    assert "revoked key 'alice'" in capsys.readouterr().out
    main(["revoke", "bob", "-conf", conf])
    main(["usage", "-conf", conf])
    assert "alice: 0 / unlimited" in capsys.readouterr().out

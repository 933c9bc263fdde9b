"""The README's "TURN with coturn" TOML, loaded as an operator would, on a real node.

A member's ``join`` reply must carry the configured STUN/TURN servers with their credentials
(that is what TURN credentials are for), exactly as the README shows them — and nothing else
secret: not the token secret, not the admin key, not the SFU's own ``server_ice_servers``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from helpers.livenode import ADMIN_KEY, HOST, SECRET, VIEWER, Client, running_node, token
from livepark.config import Config, load_config
from livepark.configload import masked

README = Path(__file__).resolve().parents[2] / "README.md"
SFU_ONLY = "sfu-only-credential-never-for-clients"


def readme_turn_section() -> str:
    text = README.read_text()
    start = text.index("## TURN with coturn")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def fenced(section: str, lang: str) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", section, re.S)
    assert len(blocks) == 1, f"expected one ```{lang} block in the TURN section, got {len(blocks)}"
    return str(blocks[0])


def load_readme_config(tmp_path: Path, **media: Any) -> Config:
    f = tmp_path / "livepark.toml"
    f.write_text(fenced(readme_turn_section(), "toml"))
    return load_config(
        str(f),
        environ={},
        overrides={
            "server": {"port": 0, "http_port": 0, "ops_port": 0},
            "auth": {"secret": SECRET, "admin_key": ADMIN_KEY},
            # the README's public address is not on this machine
            "media": {"host_addresses": ["127.0.0.1"], **media},
        },
    )


def secret_paths(obj: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every key that names a secret (credential, password, secret, *key)."""
    out: list[tuple[Any, ...]] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if re.search(r"credential|password|secret|(^|_)key$", str(k)):
                out.append((*path, k))
            out += secret_paths(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += secret_paths(v, (*path, i))
    return out


def test_readme_toml_loads_with_every_documented_media_setting(tmp_path: Path) -> None:
    cfg = load_readme_config(tmp_path)
    m = cfg.media
    assert (m.udp_port_min, m.udp_port_max) == (50000, 50999)
    stun, turn = m.ice_servers
    assert stun.urls == ("stun:turn.example.org:3478",) and not stun.credential
    assert turn.urls[0].startswith("turn:") and turn.username == "livepark" and turn.credential
    assert m.server_ice_servers[0].urls == ("stun:turn.example.org:3478",)
    # the TURN password and the coturn user in the README's turnserver.conf agree
    conf = fenced(readme_turn_section(), "ini")
    assert f"user={turn.username}:{turn.credential}" in conf.splitlines()
    # what `livepark serve` prints at start-up masks it
    printed = json.dumps(masked(cfg))
    assert turn.credential not in printed and SECRET not in printed and '"credential": "***"' in printed


async def test_join_reply_hands_members_the_turn_credentials_and_no_other_secret(tmp_path: Path) -> None:
    cfg = load_readme_config(
        tmp_path,
        server_ice_servers=[
            {"urls": ["turn:127.0.0.1:9?transport=udp"], "username": "sfu", "credential": SFU_ONLY}
        ],
    )
    documented = json.loads("{" + fenced(readme_turn_section(), "json") + "}")["ice_servers"]
    async with running_node(cfg) as app:
        host = await Client.connect(app)
        hosted = await host.join(token("turn-room", "hana", HOST), kind="live")
        viewer = await Client.connect(app, "msgpack")
        joined = await viewer.join(token("turn-room", "bo", VIEWER))
        await viewer.ok("ping")
        await host.next_event("member.joined", user_id="bo")

        for reply in (hosted, joined):
            assert reply["ice_servers"] == documented  # exactly the README's example
        turn = documented[1]
        assert turn["username"] == "livepark" and turn["credential"]

        for member in (host, viewer):
            seen = json.dumps(member.frames)
            assert turn["credential"] in seen  # clients get what they need to use TURN ...
            for secret in (SECRET, ADMIN_KEY, SFU_ONLY):  # ... and nothing else secret
                assert secret not in seen
            paths = [p for f in member.frames for p in secret_paths(f)]
            assert paths and all(p[:2] == ("data", "ice_servers") for p in paths), paths

        # WHIP/WHEP clients are told the same servers (Link headers), not the SFU's own
        assert app.ports is not None
        async with ClientSession() as http:
            r = await http.options(f"http://127.0.0.1:{app.ports.http}/whip/turn-room")
            links = r.headers.getall("Link")
        assert len(links) == 3 and all('rel="ice-server"' in link for link in links)
        assert any(f'credential="{turn["credential"]}"' in link for link in links)
        assert not any(SFU_ONLY in link or "127.0.0.1:9" in link for link in links)
        await host.close()
        await viewer.close()

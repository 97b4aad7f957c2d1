"""Issue #17: the Graph permissions granted are exactly the ones docs/security.md justifies with a
call, and the docs agree with each other (deployment.md once said Group.ReadWrite.All is not
needed while graph-gateway.md said it is; ChannelSettings.ReadWrite.All was granted, unused)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def granted_by_the_script() -> set[str]:
    text = (ROOT / "infra" / "hooks" / "postdeploy.sh").read_text()
    roles = re.search(r'^roles="([^"]*)"', text, re.M | re.S)
    assert roles is not None
    return set(roles.group(1).replace("\\\n", " ").split())


def optionally_granted() -> set[str]:
    """Permissions the script adds only for an opt-in feature (`roles="$roles ..."` lines)."""
    text = (ROOT / "infra" / "hooks" / "postdeploy.sh").read_text()
    return {n for line in re.findall(r'roles="\$roles ([^"]*)"', text) for n in line.split()}


def security_table() -> dict[str, str]:
    text = (ROOT / "docs" / "security.md").read_text()
    section = text.split("## Microsoft Graph application permissions", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            for name in re.findall(r"`([\w.]+)`", cells[0]):
                rows[name] = cells[1]
    return rows


def test_every_granted_permission_is_documented_with_the_calls_that_need_it() -> None:
    table = security_table()
    granted = {name for name, how in table.items() if how == "yes"}
    assert granted == granted_by_the_script()
    optional = {name for name, how in table.items() if how.startswith("optional")}
    assert optional == optionally_granted()


def test_unused_or_broader_permissions_are_not_granted() -> None:
    script = granted_by_the_script()
    for name in ("ChannelSettings.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All"):
        assert name not in script
    assert security_table()["ChannelSettings.ReadWrite.All"].startswith("**no**")


def test_the_gateway_and_deployment_docs_do_not_contradict_the_grant() -> None:
    script = granted_by_the_script()
    for doc in ("deployment.md", "graph-gateway.md"):
        text = (ROOT / "docs" / doc).read_text()
        assert (
            "ChannelSettings.ReadWrite.All`, " not in text
            and "| `Channel.Create`, `ChannelSettings" not in text
        )
        # a permission a doc names as *the* one for a call is granted, or the row says it is not
        for line in text.splitlines():
            for name in re.findall(r"\| `([A-Z][\w]*\.[\w.]+)`", line):
                assert name in script | optionally_granted() or "**not**" in line, (doc, name)


def test_the_webhook_urls_get_function_keys_not_the_host_key() -> None:
    text = (ROOT / "infra" / "hooks" / "postdeploy.sh").read_text()
    assert "functionKeys.default" not in text
    assert "function keys list" in text and "graph_notifications" in text and "graph_lifecycle" in text

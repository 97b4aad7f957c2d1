"""The ops page for operators (served by functions/ops.py), in two parts:

- `shell()`: the page itself at `GET /api/ops`, served without a key and holding no data: a key
  form and a little JS. The operator types the ops key once; it is kept in `sessionStorage` (this
  tab only) and sent in the `x-functions-key` header, never in a URL (no browser history, no
  proxy or server logs). A strict Content-Security-Policy (`SHELL_CSP`) allows only the page's
  own script and style (by hash) and requests to the app itself.
- `render(model)`: the server-rendered view (`GET /api/ops/view`, function key), every value
  HTML-escaped, that the shell puts into the page. Replay asks for confirmation, then POSTs
  `ops/dlq/replay` for that one message (entity + sequence number) with the same header.

`page_model` (pure) joins what the function gathered — every team's last sync, the last drift
report, the dead letters, the orchestrations in flight — into rows.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

_BAD = {"failed", "blocked", "held"}


def _store_label(key: str) -> str:
    kind, _, ident = key.partition(":")
    return ident if kind == "store" else key


def _drift_of(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    ops = entry.get("operations") or []
    count = len(ops) if isinstance(ops, list) else int(ops or 0)
    held = entry.get("held") or []
    return {
        "outcome": entry.get("outcome"),
        "operations": count,
        "held": len(held) if isinstance(held, list) else int(held or 0),
        "problems": len(entry.get("problems") or []),
        "what": [_operation_text(o) for o in ops[:5]] if isinstance(ops, list) else [],
    }


def _operation_text(op: Any) -> str:
    if not isinstance(op, Mapping):
        return str(op)
    kind = op.get("op") or op.get("kind") or op.get("type") or "change"
    target = op.get("upn") or op.get("user") or op.get("name") or op.get("display_name") or ""
    return f"{kind} {target}".strip()


def page_model(
    *,
    teams: Sequence[Mapping[str, Any]],
    report: Mapping[str, Any] | None,
    dead_letters: Sequence[Mapping[str, Any]],
    orchestrations: Sequence[Mapping[str, Any]],
    now: datetime | None = None,
    notes: Sequence[str] = (),
    records: Mapping[str, Mapping[str, Any]] | None = None,
    task_lists: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything the page shows, JSON-ready (also served as `?format=json`). `records`: the last
    records pass per account (docs/records.md), None when record-connected channels are off.
    `task_lists`: the completion report of each published task list (shared.tasks.report, as
    JSON), None when it could not be read."""
    entries: Mapping[str, Any] = (report or {}).get("stores") or {}
    by_key = {str(t["key"]): t for t in teams}
    stores = []
    for key in sorted(set(by_key) | set(entries), key=lambda k: (not k.startswith("store:"), k)):
        team = by_key.get(key, {})
        problems = team.get("problems") or []
        stores.append(
            {
                "key": key,
                "store": _store_label(key),
                "team_id": team.get("team_id"),
                "last_sync": team.get("last_sync"),
                "outcome": team.get("outcome"),
                "error": team.get("error"),
                "problems": [f"{p.get('kind')}: {p.get('detail')}" for p in problems],
                "drift": _drift_of(entries.get(key)),
            }
        )
    summary = None
    if report:
        summary = {k: report.get(k) for k in ("id", "dry_run", "started", "finished", "teams", "outcomes")}
    return {
        "generated": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "stores": stores,
        "report": summary,
        "dead_letters": list(dead_letters),
        "orchestrations": list(orchestrations),
        "counts": {
            "stores": len(stores),
            "attention": sum(1 for s in stores if s["outcome"] in _BAD or s["error"]),
            "dead_letters": len(dead_letters),
            "in_flight": len(orchestrations),
        },
        "notes": list(notes),
        "records": None
        if records is None
        else [
            {
                "key": key,
                "outcome": r.get("outcome"),
                "operations": len(r.get("operations") or []),
                "problems": list(r.get("problems") or []),
            }
            for key, r in sorted(records.items())
        ],
        "task_lists": None
        if task_lists is None
        else [
            {
                "task_list": t["task_list"],
                "name": t.get("list_name"),
                "totals": dict(t["totals"]),
                "regions": [{"region": r["region"], **r["counts"]} for r in t.get("regions") or []],
            }
            for t in task_lists
        ],
    }


# -- HTML -----------------------------------------------------------------------------------------
def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _time(value: Any) -> str:
    if not value:
        return '<span class="muted">never</span>'
    text = str(value)
    return f'<time datetime="{_e(text)}" title="{_e(text)}">{_e(text[:19].replace("T", " "))}</time>'


def _badge(outcome: Any) -> str:
    if not outcome:
        return '<span class="badge none">no sync yet</span>'
    cls = "bad" if outcome in _BAD else "ok" if outcome in ("converged", "changed") else "warn"
    return f'<span class="badge {cls}">{_e(outcome)}</span>'


def _drift_cell(drift: Mapping[str, Any] | None) -> str:
    if drift is None:
        return '<span class="muted">not in last report</span>'
    if not drift["operations"] and not drift["held"] and not drift["problems"]:
        return '<span class="badge ok">none</span>'
    parts = []
    if drift["operations"]:
        parts.append(f"{drift['operations']} change(s)")
    if drift["held"]:
        parts.append(f"{drift['held']} held")
    if drift["problems"]:
        parts.append(f"{drift['problems']} problem(s)")
    what = "; ".join(drift["what"])
    return f'<span class="badge warn" title="{_e(what)}">{_e(", ".join(parts))}</span>'


def _stores_table(stores: Sequence[Mapping[str, Any]]) -> str:
    if not stores:
        return '<p class="empty">No team is mapped or synced yet.</p>'
    rows = []
    for s in stores:
        problems = "<br>".join(_e(p) for p in s["problems"][:3]) or (
            _e(s["error"]) if s["error"] else '<span class="muted">—</span>'
        )
        rows.append(
            f'<tr class="store" data-store="{_e(s["store"])}" data-key="{_e(s["key"])}"'
            ' title="why is this team as it is?">'
            f'<td class="key">{_e(s["store"])}</td>'
            f'<td class="mono">{_e(s["team_id"]) or "<span class=muted>no team</span>"}</td>'
            f"<td>{_time(s['last_sync'])}</td><td>{_badge(s['outcome'])}</td>"
            f'<td>{_drift_cell(s["drift"])}</td><td class="small">{problems}</td></tr>'
        )
    return (
        '<table id="stores"><thead><tr><th>Store</th><th>Team</th><th>Last sync</th><th>Result</th>'
        "<th>Drift (last reconciliation)</th><th>Problems</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _report_block(report: Mapping[str, Any] | None) -> str:
    if not report:
        return '<p class="empty">No reconciliation has run yet.</p>'
    outcomes = ", ".join(f"{_e(k)}: {_e(v)}" for k, v in (report.get("outcomes") or {}).items()) or "—"
    mode = "dry run" if report.get("dry_run") else "applied"
    return (
        f'<p id="report">Report <span class="mono">{_e(report.get("id"))}</span> ({mode}): '
        f"{_e(report.get('teams'))} teams, {outcomes}; started {_time(report.get('started'))}, "
        f"finished {_time(report.get('finished'))}.</p>"
    )


def _bus_reason(d: Mapping[str, Any]) -> str:
    """What Service Bus recorded, when the app's reason (shared.ops.dlq.app_reason) differs."""
    bus = d.get("dead_letter_reason")
    return f"{_e(bus)}: " if bus and bus != d.get("reason") else ""


def _dead_letters_table(dead_letters: Sequence[Mapping[str, Any]]) -> str:
    if not dead_letters:
        return '<p class="empty" id="no-dead-letters">No dead letters.</p>'
    rows = []
    for d in dead_letters:
        rows.append(
            f'<tr class="dead-letter" data-entity="{_e(d["entity"])}" data-seq="{_e(d["sequence_number"])}">'
            f'<td class="mono small">{_e(d["entity"])}</td><td class="mono">{_e(d["sequence_number"])}</td>'
            f"<td>{_time(d['enqueued_time'])}</td>"
            f"<td><strong>{_e(d['reason'])}</strong>"
            f'<div class="small">{_bus_reason(d)}{_e(d["description"])}</div></td>'
            f"<td>{_e(d['event_type']) or '—'}</td><td>{_e(d['store']) or '—'}</td>"
            f'<td class="num">{_e(d["delivery_count"])}</td><td class="num">{_e(d["replay_count"])}</td>'
            '<td><button class="replay" type="button">Replay</button>'
            '<div class="result small"></div></td></tr>'
        )
    return (
        '<table id="dead-letters"><thead><tr><th>Entity</th><th>Seq</th><th>Enqueued</th>'
        "<th>Reason</th><th>Event</th><th>Store</th><th>Deliveries</th><th>Replays</th><th></th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _orchestrations_table(orchestrations: Sequence[Mapping[str, Any]]) -> str:
    if not orchestrations:
        return '<p class="empty" id="no-orchestrations">Nothing in flight.</p>'
    rows = []
    for o in orchestrations:
        custom = o.get("custom_status")
        rows.append(
            f'<tr><td class="mono">{_e(o.get("instance_id"))}</td><td>{_e(o.get("name"))}</td>'
            f"<td>{_badge(o.get('runtime_status'))}</td><td>{_time(o.get('created_time'))}</td>"
            f"<td>{_time(o.get('last_updated_time'))}</td>"
            f'<td class="mono small">{_e(json.dumps(custom) if custom is not None else "")}</td></tr>'
        )
    return (
        '<table id="orchestrations"><thead><tr><th>Instance</th><th>Orchestration</th><th>Status</th>'
        "<th>Created</th><th>Updated</th><th>Custom status</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


_CSS = """
:root { --ok:#1a7f37; --bad:#cf222e; --warn:#9a6700; --muted:#6e7781; --line:#d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1f2328; }
header { background: #24292f; color: #fff; padding: 12px 24px;
  display: flex; align-items: baseline; gap: 16px; }
header h1 { font-size: 18px; margin: 0; } header .small { color: #c9d1d9; }
main { padding: 8px 24px 32px; max-width: 1400px; }
h2 { font-size: 16px; margin: 24px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.cards { display: flex; gap: 12px; margin: 16px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 16px; min-width: 150px; }
.card b { display: block; font-size: 22px; } .card.alert b { color: var(--bad); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
.mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; } .small { font-size: 12px; }
.muted, .empty { color: var(--muted); } .num { text-align: right; } .key { font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; border: 1px solid; }
.badge.ok { color: var(--ok); } .badge.bad { color: var(--bad); } .badge.warn { color: var(--warn); }
.badge.none { color: var(--muted); }
button.replay { padding: 3px 12px; border: 1px solid #1f6feb; background: #1f6feb; color: #fff;
  border-radius: 6px; cursor: pointer; } button.replay:disabled { opacity: .5; cursor: default; }
.result.ok { color: var(--ok); } .result.bad { color: var(--bad); }
.notes { color: var(--warn); }
tr.task-list.alert td.key { color: var(--bad); } tr.task-region td { color: var(--muted); }
tr.store { cursor: pointer; } tr.store:hover { background: #f6f8fa; }
tr.explain pre { margin: 0; white-space: pre-wrap; font-size: 12px; }
a.refresh { color: #fff; }
form.login { margin: 48px auto; max-width: 420px; display: flex; flex-direction: column; gap: 8px; }
form.login input { padding: 6px 8px; font: inherit; } form.login .bad { color: var(--bad); }
"""

_JS = """
const KEY = "cts-ops-key";
const view = document.getElementById("view");
const form = document.getElementById("login");
const headers = () => ({"x-functions-key": sessionStorage.getItem(KEY) || ""});

function showLogin(message) {
  view.replaceChildren();
  form.hidden = false;
  document.getElementById("login-error").textContent = message || "";
}

async function load() {
  if (!sessionStorage.getItem(KEY)) { showLogin(""); return; }
  const response = await fetch("ops/view", {headers: headers(), cache: "no-store"});
  if (response.status === 401) { sessionStorage.removeItem(KEY); showLogin("That key was refused."); return; }
  form.hidden = true;
  view.innerHTML = await response.text();  // server-rendered, every value HTML-escaped
  bindReplay();
  bindExplain();
}

// A store's row opens `cts explain` for it (GET ops/explain/{key}); built with textContent only.
function explainText(t) {
  const lines = ["team " + t.key];
  const d = t.desired;
  lines.push(d ? "desired: " + d.display_name + (d.archived ? " (archived)" : "") : "desired: no team");
  for (const p of (d ? d.people : [])) {
    const rows = p.commerce_rows.map(r => r.store + " " + r.role + (r.active ? "" : " (inactive)"))
      .join(", ");
    lines.push("  " + p.role + " " + (p.personnel_number || p.user_id) + ": " + (p.why || "")
      + "  [Commerce: " + (rows || "-") + "]");
  }
  const a = t.actual;
  lines.push(a ? "actual: " + a.display_name + " — " + a.owners.length + " owners, "
    + a.members.length + " members" : "actual: none");
  lines.push("plan: " + (t.plan.length ? "" : "nothing"));
  for (const op of t.plan) lines.push("  " + op.op + ": " + op.reason);
  lines.push("held by a safety rail: " + (t.held.length ? "" : "nothing"));
  for (const op of t.held) lines.push("  " + op.op + ": " + op.reason);
  for (const pr of t.problems) lines.push("problem: " + pr.kind + ": " + (pr.detail || ""));
  lines.push("last pass: " + (t.last_pass ? t.last_pass.outcome + " at " + t.last_pass.at
    : "none"));
  return lines.join("\\n");
}
function bindExplain() {
  for (const row of view.querySelectorAll("tr.store")) {
    row.addEventListener("click", async () => {
      const next = row.nextElementSibling;
      if (next && next.classList.contains("explain")) { next.remove(); return; }
      const line = document.createElement("tr"); line.className = "explain";
      const cell = document.createElement("td"); cell.colSpan = row.children.length;
      const pre = document.createElement("pre"); pre.textContent = "explaining…";
      cell.appendChild(pre); line.appendChild(cell); row.after(line);
      try {
        const response = await fetch("ops/explain/" + encodeURIComponent(row.dataset.key),
          {headers: headers()});
        const body = await response.json().catch(() => ({}));
        pre.textContent = response.ok ? explainText(body) : (body.error || "HTTP " + response.status);
      } catch (err) { pre.textContent = String(err); }
    });
  }
}

function bindReplay() {
  for (const button of view.querySelectorAll("button.replay")) {
    button.addEventListener("click", async () => {
      const row = button.closest("tr");
      const out = row.querySelector(".result");
      const what = row.dataset.entity + " #" + row.dataset.seq;
      if (!window.confirm("Replay dead letter " + what + " to its subscription?")) return;
      button.disabled = true;
      out.className = "result small"; out.textContent = "replaying…";
      const query = new URLSearchParams({entity: row.dataset.entity, seq: row.dataset.seq, dry_run: "false"});
      try {
        const response = await fetch("ops/dlq/replay?" + query, {method: "POST", headers: headers()});
        const body = await response.json().catch(() => ({}));
        const record = (body.messages || [])[0];
        if (response.ok && body.done === 1) {
          out.className = "result small ok";
          out.textContent = "replayed as " + (record ? record.new_message_id : "a new message");
          row.classList.add("replayed");
          setTimeout(load, 1500);
        } else {
          out.className = "result small bad";
          out.textContent = body.error || (record && record.detail)
            || ("not replayed (HTTP " + response.status + ")");
          button.disabled = false;
        }
      } catch (err) {
        out.className = "result small bad"; out.textContent = String(err); button.disabled = false;
      }
    });
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const input = document.getElementById("ops-key");
  sessionStorage.setItem(KEY, input.value.trim());
  input.value = "";
  load();
});
load();
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


SHELL_CSP = (
    "default-src 'none'; "
    f"script-src {_sha256(_JS)}; style-src {_sha256(_CSS)}; "
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The shell's Content-Security-Policy: only its own inline script and style (by hash), fetches to
the app itself, no framing, no forms posting elsewhere, nothing else."""

SHELL_HEADERS = {
    "Content-Security-Policy": SHELL_CSP,
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def shell() -> str:
    """The ops page without any data: the key form, the view's place, the script."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Commerce ↔ Teams sync — operations</title><style>{_CSS}</style></head>
<body><form id="login" class="login" hidden>
<label for="ops-key">Ops key (kept in this tab only; never in the address bar)</label>
<input id="ops-key" type="password" autocomplete="off" required>
<button type="submit">Open</button><div id="login-error" class="bad"></div></form>
<div id="view"></div><script>{_JS}</script></body></html>
"""


def _records_table(records: Sequence[Mapping[str, Any]] | None) -> str:
    if records is None:
        return ""
    rows = "".join(
        f"<tr><td>{_e(r['key'])}</td><td>{_badge(r['outcome'])}</td><td>{_e(r['operations'])}</td>"
        f"<td>{'<br>'.join(_e(p) for p in r['problems']) or '—'}</td></tr>"
        for r in records
    )
    body = rows or '<tr><td colspan="4">no records pass yet</td></tr>'
    return (
        "<h2>Record-connected channels</h2><table><thead><tr><th>account</th><th>last pass</th>"
        f"<th>operations</th><th>problems</th></tr></thead><tbody>{body}</tbody></table>"
        '<p class="small">Per record and channel: <code>cts records connections &lt;account&gt;</code>.</p>'
    )


_TASK_COLUMNS = ("tasks", "done", "open", "overdue", "not_mirrored", "problems")


def _task_lists_table(task_lists: Sequence[Mapping[str, Any]] | None) -> str:
    """Completion per task list and region (docs/tasks.md); per store: `cts tasks report`."""
    if task_lists is None:
        return ""
    head = "".join(f"<th>{_e(c.replace('_', ' '))}</th>" for c in _TASK_COLUMNS)
    rows = []
    for t in task_lists:
        name = f" {_e(t['name'])}" if t.get("name") else ""
        cells = "".join(f'<td class="num">{_e(t["totals"].get(c, 0))}</td>' for c in _TASK_COLUMNS)
        late = " alert" if t["totals"].get("overdue") else ""
        rows.append(
            f'<tr class="task-list{late}" data-task-list="{_e(t["task_list"])}">'
            f'<td class="key">{_e(t["task_list"])}{name}</td><td></td>{cells}</tr>'
        )
        for r in t["regions"]:
            cells = "".join(f'<td class="num">{_e(r.get(c, 0))}</td>' for c in _TASK_COLUMNS)
            rows.append(f'<tr class="task-region"><td></td><td>{_e(r["region"])}</td>{cells}</tr>')
    body = "".join(rows) or f'<tr><td colspan="{len(_TASK_COLUMNS) + 2}">no task list published</td></tr>'
    return (
        '<h2>Task lists (completion)</h2><table id="task-lists"><thead><tr><th>task list</th>'
        f"<th>region</th>{head}</tr></thead><tbody>{body}</tbody></table>"
        '<p class="small">Overdue: open and due before today in the store\'s time zone. Per store: '
        "<code>cts tasks report &lt;list&gt; [--region R]</code>.</p>"
    )


def render(model: Mapping[str, Any]) -> str:
    """The view as an HTML fragment (header + main) for the shell; every value is escaped."""
    c = model["counts"]
    notes = "".join(f'<p class="notes">{_e(n)}</p>' for n in model.get("notes", []))
    cards = (
        f'<div class="cards"><div class="card"><b>{c["stores"]}</b>teams</div>'
        f'<div class="card{" alert" if c["attention"] else ""}"><b>{c["attention"]}</b>need attention</div>'
        f'<div class="card{" alert" if c["dead_letters"] else ""}">'
        f"<b>{c['dead_letters']}</b>dead letters</div>"
        f'<div class="card"><b>{c["in_flight"]}</b>orchestrations in flight</div></div>'
    )
    return f"""<header><h1>Commerce ↔ Teams sync — operations</h1>
<span class="small">generated {_e(model["generated"])} ·
<a href="" class="refresh">refresh</a></span></header>
<main>{notes}{cards}
<h2>Stores and teams</h2>{_stores_table(model["stores"])}
<h2>Last reconciliation</h2>{_report_block(model["report"])}
{_records_table(model.get("records"))}
{_task_lists_table(model.get("task_lists"))}
<h2>Dead letters</h2>{_dead_letters_table(model["dead_letters"])}
<h2>Orchestrations in flight</h2>{_orchestrations_table(model["orchestrations"])}
</main>
"""

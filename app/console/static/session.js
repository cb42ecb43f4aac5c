// One session: its facts and transcript, fork, delete, and a form that continues it with a
// new prompt through POST /api/claude, its events shown as they stream.
"use strict";

(() => {
  const { el, api, when, dollars } = Console;
  const id = document.getElementById("session").dataset.sessionId;
  const path = "/api/claude/sessions/" + encodeURIComponent(id);

  async function load() {
    const session = await api(path);
    document.getElementById("session-title").textContent = session.title || "(no title yet)";
    const facts = [["Workspace", session.workspace || "shared"], ["Turns", session.turns],
      ["Cost", dollars(session.total_cost_usd)], ["Created", when(session.created_at)],
      ["Last turn", when(session.last_turn_at)]];
    if (session.forked_from) facts.push(["Forked from", el("a", { href: "/sessions/" + session.forked_from }, session.forked_from)]);
    document.getElementById("session-facts").replaceChildren(
      ...facts.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
    const workspace = document.getElementById("opt-workspace");
    if (!workspace.value && session.workspace) workspace.value = session.workspace;
    const turns = session.turns_detail || [];
    document.getElementById("transcript").replaceChildren(...turns.map((t, i) => Transcript.turn(t, i + 1)));
    document.getElementById("transcript-empty").hidden = turns.length > 0;
  }

  async function fork() {
    try {
      const made = await api(path + "/fork", { method: "POST" });
      location.assign("/sessions/" + made.id);
    } catch (error) { Console.showError(error.message); }
  }

  async function remove() {
    if (!confirm("Delete this session and Claude Code's file of it? This cannot be undone.")) return;
    try {
      await api(path, { method: "DELETE" });
      location.assign("/sessions");
    } catch (error) { Console.showError(error.message); }
  }

  // The turn's body from the form: the prompt, this session, and the options filled in.
  function body(form) {
    const data = new FormData(form);
    const request = { prompt: data.get("prompt"), "session-id": id, stream: true,
      approvals: form.elements.approvals.checked };
    for (const name of ["workspace", "model", "effort", "permission-mode"]) {
      if (data.get(name)) request[name] = data.get(name);
    }
    if (data.get("max-turns")) request["max-turns"] = Number(data.get("max-turns"));
    return request;
  }

  async function send(event) {
    event.preventDefault();
    const form = event.target;
    const reply = document.getElementById("live-reply");
    const status = document.getElementById("live-status");
    const approvals = document.getElementById("live-approvals");
    reply.replaceChildren();
    approvals.replaceChildren();
    document.getElementById("live-run").replaceChildren();
    document.getElementById("live").hidden = false;
    form.elements.send.disabled = true;
    status.textContent = "Running";
    try {
      const response = await api("/api/claude", { method: "POST", body: body(form), raw: true });
      if (!response.ok) {
        const failed = await response.json().catch(() => ({}));
        throw new Error(failed.error && failed.error.message || response.statusText);
      }
      await Console.readEvents(response, (streamed) => {
        if (streamed && streamed.type === "run") {  // the turn is a run: watchable from Runs
          document.getElementById("live-run").replaceChildren("Run ",
            el("a", { href: "/?run=" + streamed.run_id }, streamed.run_id));
        }
        if (streamed && streamed.type === "permission_request") {
          approvals.append(Approvals.card(streamed));
        }
        const item = Events.render(streamed);
        if (item) reply.append(item);
        if (streamed && streamed.type === "result") status.textContent = item ? item.textContent : "Done";
      });
      form.elements.prompt.value = "";
      await load();
    } catch (error) {
      status.textContent = error.message;
    } finally {
      form.elements.send.disabled = false;
    }
  }

  async function interrupt() {
    try {
      await api(path + "/interrupt", { method: "POST" });
    } catch (error) { document.getElementById("live-status").textContent = error.message; }
  }

  document.getElementById("fork").addEventListener("click", fork);
  document.getElementById("delete").addEventListener("click", remove);
  document.getElementById("continue").addEventListener("submit", send);
  document.getElementById("interrupt").addEventListener("click", interrupt);
  Console.page(load);
})();

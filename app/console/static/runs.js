// The Runs page: approvals waiting for this key, runs now and lately (refreshed every few
// seconds), and one run's events followed live from the runs API's event log; a dropped
// stream reconnects by itself from the last event it saw.
"use strict";

(() => {
  const { el, api, when } = Console;
  const ACTIVE = ["running", "queued", "waiting"];
  const ENDED = ["completed", "failed", "cancelled"];
  const REFRESH_MS = 4000;
  const RETRY_MS = 1000;
  let watching = null;

  // The key's runs, newest first (every status when none is asked for).
  async function listRuns() {
    return (await api("/api/claude/runs")).data;
  }

  function waitingText(run) {
    if (!run.waiting) return null;
    if (run.waiting.kind === "approval") return "Waiting for approval of " + run.waiting.tool_name;
    if (run.waiting.kind === "function_result") return "Waiting for its client's function result";
    return "Waiting";
  }

  function runCard(run) {
    const cancel = async (event) => {
      event.target.disabled = true;
      try {
        await api("/api/claude/runs/" + encodeURIComponent(run.id) + "/cancel", { method: "POST" });
        refresh();
      } catch (error) { Console.showError(error.message); }
    };
    const live = ACTIVE.includes(run.status);
    return el("li", { class: "card run", "data-run-id": run.id, "data-status": run.status },
      el("h3", {}, run.id),
      el("p", {}, el("span", { class: "badge " + run.status }, run.status), " ",
        run.surface || "", run.workspace ? " · workspace " + run.workspace : "",
        " · started " + when(run.started_at || run.created_at)),
      waitingText(run) ? el("p", { class: "note" }, waitingText(run)) : null,
      run.session_id ? el("p", {}, "Session ",
        el("a", { href: "/sessions/" + run.session_id }, run.session_id)) : null,
      el("div", { class: "actions" },
        el("button", { type: "button", onclick: () => watch(run) }, "Watch"),
        live ? el("button", { type: "button", class: "danger", onclick: cancel }, "Cancel") : null));
  }

  // Replace a list's items only when they changed, so a button is not swapped under a click.
  function fill(listId, items, make) {
    const list = document.getElementById(listId);
    const shown = JSON.stringify(items);
    if (list.dataset.shown === shown) return;
    list.dataset.shown = shown;
    list.replaceChildren(...items.map(make));
    document.getElementById(listId + "-empty").hidden = items.length > 0;
  }

  async function refreshApprovals() {
    const waiting = await api("/api/claude/permissions");
    fill("approvals", waiting.data, (question) => Approvals.card(question, refresh));
  }

  async function refreshRuns() {
    const runs = await listRuns();
    fill("runs", runs.filter((run) => ACTIVE.includes(run.status)), runCard);
    fill("recent", runs.filter((run) => ENDED.includes(run.status)).slice(0, 20), runCard);
  }

  let timer = null;
  async function refresh() {
    clearTimeout(timer);
    try {
      await Promise.all([refreshApprovals(), refreshRuns()]);
      Console.showError("");
    } catch (error) {
      Console.showError(error.message);
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  // Follow a run's events until its result, resuming after the last id on a dropped stream.
  async function watch(run) {
    if (watching) watching.abort();
    const control = new AbortController();
    watching = control;
    const list = document.getElementById("watch-events");
    list.replaceChildren();
    document.getElementById("watch").hidden = false;
    document.getElementById("watch-id").textContent = run.id;
    const status = document.getElementById("watch-status");
    status.textContent = run.status;
    let last = null;
    let ended = false;
    while (!ended && !control.signal.aborted) {
      try {
        const headers = last === null ? {} : { "Last-Event-ID": last };
        const response = await api("/api/claude/runs/" + encodeURIComponent(run.id) + "/events",
          { raw: true, headers, signal: control.signal });
        if (!response.ok) throw new Error("The run's events answered " + response.status);
        status.textContent = "streaming";
        await Console.readEvents(response, (event, id) => {
          if (id !== null) last = id;
          const item = Events.render(event);
          if (item) list.append(item);
          if (event && event.type === "result") ended = true;
        });
      } catch (error) {
        if (control.signal.aborted) return;
        status.textContent = "reconnecting (" + error.message + ")";
      }
      if (!ended) await new Promise((done) => setTimeout(done, RETRY_MS));
    }
    if (ended) status.textContent = "ended";
    document.getElementById("watch").scrollIntoView({ block: "nearest" });
  }

  Console.page(async () => {
    await refresh();
    const wanted = new URLSearchParams(location.search).get("run");
    if (wanted) watch({ id: wanted, status: "" });
  });
})();

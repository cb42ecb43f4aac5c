// The Sessions page: the key's sessions (newest first, a few pages of them), filtered by
// title as the person types.
"use strict";

(() => {
  const { el, api, when, dollars } = Console;
  const PAGE = 100;
  const MAX_PAGES = 10;  // a thousand sessions is as many as a person scrolls through
  let sessions = [];

  async function load() {
    let after = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const query = "?limit=" + PAGE + (after ? "&after=" + after : "");
      const found = await api("/api/claude/sessions" + query);
      sessions.push(...found.data);
      if (!found.has_more) break;
      after = found.last_id;
    }
  }

  function row(session) {
    return el("tr", { "data-session-id": session.id },
      el("td", {}, el("a", { href: "/sessions/" + session.id }, session.title || session.id)),
      el("td", {}, session.workspace || "shared"),
      el("td", {}, session.turns),
      el("td", {}, dollars(session.total_cost_usd)),
      el("td", {}, when(session.last_turn_at)));
  }

  function show() {
    const wanted = document.getElementById("title-search").value.trim().toLowerCase();
    const matching = sessions.filter((s) => !wanted || (s.title || "").toLowerCase().includes(wanted));
    document.querySelector("#sessions tbody").replaceChildren(...matching.map(row));
    document.getElementById("sessions-empty").hidden = matching.length > 0;
  }

  document.getElementById("title-search").addEventListener("input", show);
  document.getElementById("search").addEventListener("submit", (e) => e.preventDefault());
  Console.page(async () => {
    sessions = [];
    await load();
    show();
  });
})();

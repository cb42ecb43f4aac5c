// A waiting tool use as a card with Allow, Always allow and Deny: the answer goes to
// POST /api/claude/permissions/<request_id>, and the turn goes on in whichever worker.
"use strict";

const Approvals = (() => {
  const { el, api } = Console;

  function card(question, onAnswered) {
    const answer = (behavior, always) => async () => {
      item.querySelectorAll("button").forEach((button) => { button.disabled = true; });
      try {
        await api("/api/claude/permissions/" + encodeURIComponent(question.request_id),
          { method: "POST", body: { behavior, always } });
        item.querySelector(".answer").textContent = behavior === "allow" ? "Allowed" : "Denied";
        if (onAnswered) onAnswered(question, behavior);
      } catch (error) {
        item.querySelector(".answer").textContent = error.message;
        item.querySelectorAll("button").forEach((button) => { button.disabled = false; });
      }
    };
    const label = question.tool_name + (question.description ? ": " + question.description : "");
    const item = el("li", { class: "card approval", "data-request-id": question.request_id },
      el("h3", {}, "May Claude use " + question.tool_name + "?"),
      el("p", {}, label),
      el("pre", {}, JSON.stringify(question.input || {}, null, 2)),
      question.session_id ? el("p", { class: "note" }, "Session ",
        el("a", { href: "/sessions/" + question.session_id }, question.session_id)) : null,
      el("div", { class: "actions" },
        el("button", { type: "button", onclick: answer("allow", false) }, "Allow"),
        el("button", { type: "button", onclick: answer("allow", true) }, "Always allow"),
        el("button", { type: "button", class: "danger", onclick: answer("deny", false) }, "Deny")),
      el("p", { class: "answer", role: "status" }));
    return item;
  }

  return { card };
})();

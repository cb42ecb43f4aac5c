// A session's turns as a reader follows them: the prompt, then each step in order
// (text, tool calls and results, thinking folded), from GET /api/claude/sessions/<id>.
"use strict";

const Transcript = (() => {
  const { el, when } = Console;

  function turn(detail, number) {
    const steps = detail.steps && detail.steps.length ? detail.steps
      : (detail.reply ? [{ type: "text", text: detail.reply }] : []);
    return el("li", { class: "turn" },
      el("h3", {}, "Turn " + number, detail.created_at ? el("small", {}, " " + when(detail.created_at)) : null),
      el("div", { class: "prompt" }, el("p", { class: "who" }, "Prompt"), el("p", { class: "text" }, detail.prompt)),
      el("div", { class: "reply" }, steps.map(Events.block).filter(Boolean)));
  }

  return { turn };
})();

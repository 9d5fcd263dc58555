// The website chatbot, as one script tag on the municipality's site:
//   <script src="https://onthaal.example/chat/widget.js" data-lang="nl" async></script>
// It adds a button that opens a chat panel; with data-mode="page" the panel is the page
// (Onthaal's own /chat). WORDS (every language) is given by the server around this code.
// Nothing is stored: the conversation id lives in this page's memory only.
"use strict";
const script = document.currentScript;
const api = new URL("/api/v1/chat", script.src).href;
const page = script.dataset.mode === "page";
const wanted = (script.dataset.lang || document.documentElement.lang || navigator.language || "nl")
  .slice(0, 2).toLowerCase();
const lang = WORDS[wanted] ? wanted : Object.keys(WORDS)[0];
const words = WORDS[lang];
let conversation = null;
let counter = 0;

function element(tag, attributes, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

const style = element("style");
style.textContent = `
.onthaal-chat { font: 16px/1.4 system-ui, sans-serif; color: #1d1d1b; }
.onthaal-chat-open { position: fixed; right: 1rem; bottom: 1rem; z-index: 2147483000;
  background: #005a9c; color: #fff; border: 0; border-radius: 2rem; padding: .8rem 1.2rem;
  font: inherit; font-weight: 600; cursor: pointer; box-shadow: 0 2px 8px rgba(0,0,0,.3); }
.onthaal-chat-open:focus-visible, .onthaal-chat button:focus-visible,
.onthaal-chat input:focus-visible { outline: 3px solid #f5a623; outline-offset: 2px; }
.onthaal-chat-panel { background: #fff; display: flex; flex-direction: column; }
.onthaal-chat-panel.floating { position: fixed; right: 1rem; bottom: 1rem; width: min(24rem, 92vw);
  height: min(34rem, 80vh); z-index: 2147483001; border-radius: .6rem;
  box-shadow: 0 4px 24px rgba(0,0,0,.35); }
.onthaal-chat-panel.whole { max-width: 44rem; margin: 0 auto; min-height: 90vh; }
.onthaal-chat-head { display: flex; justify-content: space-between; align-items: center;
  background: #005a9c; color: #fff; padding: .6rem .9rem; border-radius: .6rem .6rem 0 0; }
.onthaal-chat-head h2 { font-size: 1.05rem; margin: 0; }
.onthaal-chat-head button { background: none; border: 0; color: #fff; font-size: 1.4rem; cursor: pointer; }
.onthaal-chat-log { flex: 1; overflow-y: auto; padding: .8rem; }
.onthaal-chat-log p { margin: .4rem 0; padding: .5rem .7rem; border-radius: .6rem; max-width: 85%; }
.onthaal-chat-log .from-visitor { background: #e6f0f8; margin-left: auto; }
.onthaal-chat-log .from-town { background: #f2f2f2; }
.onthaal-chat-form { display: flex; gap: .4rem; padding: .6rem; border-top: 1px solid #ddd; }
.onthaal-chat-form input { flex: 1; font: inherit; padding: .5rem; border: 1px solid #888; border-radius: .3rem; }
.onthaal-chat-form button { font: inherit; background: #005a9c; color: #fff; border: 0;
  border-radius: .3rem; padding: .5rem .9rem; cursor: pointer; }
.onthaal-chat-note { font-size: .8rem; color: #555; margin: 0 .8rem .6rem; }
.onthaal-chat-hidden { position: absolute; left: -9999px; }
.onthaal-chat [hidden] { display: none !important; }
`;
document.head.appendChild(style);

const root = element("div", { class: "onthaal-chat", lang });
const id = "onthaal-chat-" + Math.random().toString(36).slice(2);
const panel = element("section", {
  class: "onthaal-chat-panel " + (page ? "whole" : "floating"),
  id: id, "aria-label": words.title, role: page ? "region" : "dialog",
});
const head = element("div", { class: "onthaal-chat-head" });
head.appendChild(element(page ? "h1" : "h2", {}, words.title));
const log = element("div", { class: "onthaal-chat-log", role: "log", "aria-live": "polite" });
const form = element("form", { class: "onthaal-chat-form" });
const input = element("input", {
  type: "text", id: id + "-q", name: "q", maxlength: "500", autocomplete: "off",
  placeholder: words.placeholder,
});
const label = element("label", { for: id + "-q", class: "onthaal-chat-hidden" }, words.label);
const send = element("button", { type: "submit" }, words.send);
form.append(label, input, send);
panel.append(head, log, form, element("p", { class: "onthaal-chat-note" }, words.privacy));
root.appendChild(panel);

let opener = null;
if (!page) {
  opener = element("button", {
    class: "onthaal-chat-open", type: "button", "aria-expanded": "false", "aria-controls": id,
  }, words.open);
  const close = element("button", { type: "button", "aria-label": words.close }, "×");
  head.appendChild(close);
  panel.hidden = true;
  const show = (open) => {
    panel.hidden = !open;
    opener.hidden = open;
    opener.setAttribute("aria-expanded", String(open));
    (open ? input : opener).focus();
  };
  opener.addEventListener("click", () => show(true));
  close.addEventListener("click", () => show(false));
  panel.addEventListener("keydown", (event) => { if (event.key === "Escape") show(false); });
  root.appendChild(opener);
}

function say(text, who) {
  const line = element("p", { class: who === "visitor" ? "from-visitor" : "from-town" }, text);
  log.appendChild(line);
  log.scrollTop = log.scrollHeight;
  return line;
}

say(words.intro, "town");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = "";
  say(text, "visitor");
  const mine = ++counter;
  send.disabled = true;
  try {
    const answer = await fetch(api, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ conversation, text, language: lang }),
      credentials: "omit",
    });
    if (answer.status === 429) { say(words.busy, "town"); return; }
    if (!answer.ok) { say(words.unreachable, "town"); return; }
    const reply = await answer.json();
    if (mine === counter) conversation = reply.conversation;
    say(reply.text, "town");
  } catch (_) {
    say(words.unreachable, "town");
  } finally {
    send.disabled = false;
    input.focus();
  }
});

if (page) {
  script.after(root);  // where the page put the script
  input.focus();
} else {
  (document.body || document.documentElement).appendChild(root);
}

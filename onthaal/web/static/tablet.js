// The robot's tablet pages: taps and typed questions go to Onthaal over HTTP, with the
// robot's tablet key; the caption shows what the robot says. Text is only ever set with
// textContent. Without a key (a page opened elsewhere) nothing is sent.
(function () {
  "use strict";
  const key = document.body.dataset.key;
  const lang = document.body.dataset.lang;

  function send(path, body) {
    return fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Tablet-Key": key },
      body: JSON.stringify(body),
    });
  }

  function withKey(address) {
    return key ? address + (address.indexOf("?") < 0 ? "?" : "&") + "t=" + encodeURIComponent(key) : address;
  }

  document.querySelectorAll("[data-tap]").forEach(function (button) {
    button.addEventListener("click", function () {
      if (!key) { return; }
      send("/tablet/tap", { element: button.dataset.tap }).then(function (answer) {
        // The robot shows the next page itself; going there at once feels quicker.
        if (answer.ok && button.dataset.go) { window.location.assign(withKey(button.dataset.go)); }
      });
    });
  });

  const form = document.getElementById("question");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const input = document.getElementById("question-text");
      const text = input.value.trim();
      if (!key || !text) { return; }
      send("/tablet/question", { text: text, lang: lang }).then(function (answer) {
        if (answer.ok) {
          input.value = "";
          document.getElementById("question-sent").hidden = false;
        }
      });
    });
  }

  // The live caption: what the robot says, as it says it.
  const box = document.getElementById("caption-box");
  const caption = document.getElementById("caption");
  let shown = -1;
  function poll() {
    if (!key) { return; }
    fetch("/tablet/caption", { headers: { "X-Tablet-Key": key }, cache: "no-store" })
      .then(function (answer) { return answer.ok ? answer.json() : null; })
      .then(function (said) {
        if (said && said.number !== shown && said.text) {
          shown = said.number;
          caption.textContent = said.text;
          caption.lang = said.lang || "";
          box.hidden = false;
        }
      })
      .catch(function () { /* the next poll tries again */ })
      .finally(function () { window.setTimeout(poll, 500); });
  }
  poll();
}());

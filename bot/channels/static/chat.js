// Raabta web chat: posts to /webchat/api/messages and renders replies with buttons.
// Text is always inserted with textContent, never as HTML.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var busy = false;

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var session = window.localStorage.getItem("raabta.session");
  if (!session) {
    session = randomId();
    window.localStorage.setItem("raabta.session", session);
  }

  function scrollDown() { log.lastElementChild && log.lastElementChild.scrollIntoView({block: "end"}); }

  function bubble(text, who) {
    var item = document.createElement("li");
    item.className = "msg " + who;
    item.setAttribute("dir", "auto");
    item.textContent = text;
    log.appendChild(item);
    scrollDown();
    return item;
  }

  function disableOldButtons() {
    var old = log.querySelectorAll(".buttons button");
    for (var i = 0; i < old.length; i++) { old[i].disabled = true; }
  }

  function render(messages) {
    if (!messages || !messages.length) { return; }
    disableOldButtons();
    messages.forEach(function (m) {
      bubble(m.text, "bot");
      if (m.calls && m.calls.length) {  // tap-to-call: the phone's dialler opens with the number
        var calls = document.createElement("li");
        calls.className = "calls";
        m.calls.forEach(function (c) {
          var link = document.createElement("a");
          link.className = "call";
          link.href = "tel:" + String(c.number).replace(/[^0-9+]/g, "");
          link.setAttribute("dir", "auto");
          link.textContent = c.label;
          calls.appendChild(link);
        });
        log.appendChild(calls);
      }
      if (m.buttons && m.buttons.length) {
        var row = document.createElement("li");
        row.className = "buttons";
        m.buttons.forEach(function (b) {
          var button = document.createElement("button");
          button.type = "button";
          button.setAttribute("dir", "auto");
          button.dataset.choice = b.id;
          button.textContent = b.label;
          button.addEventListener("click", function () {
            if (busy) { return; }
            bubble(b.label, "me");
            send({choice: b.id});
          });
          row.appendChild(button);
        });
        log.appendChild(row);
      }
    });
    scrollDown();
  }

  function send(payload, attempt) {
    busy = true;
    payload.session = session;
    payload.id = payload.id || randomId();  // the same id on a retry: the server handles it once
    return fetch("/webchat/api/messages", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(payload)
    }).then(function (response) {
      return response.json().then(function (body) {
        if (body.messages) { render(body.messages); }
        else if (body.error) { bubble(body.error, "note"); }
      });
    }).catch(function () {
      if ((attempt || 0) < 2) {
        return new Promise(function (r) { setTimeout(r, 1500); }).then(function () {
          return send(payload, (attempt || 0) + 1);
        });
      }
      bubble("Connection problem. Your message was not lost on your side: please send it again.", "note");
    }).finally(function () { busy = false; input.focus(); });
  }

  function poll() {
    fetch("/webchat/api/messages?session=" + encodeURIComponent(session))
      .then(function (r) { return r.ok ? r.json() : {messages: []}; })
      .then(function (body) { render(body.messages); })
      .catch(function () {});
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || busy) { return; }
    bubble(text, "me");
    input.value = "";
    send({text: text});
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  if (!window.sessionStorage.getItem("raabta.started")) {
    window.sessionStorage.setItem("raabta.started", "1");
    send({text: "/start"});
  }
  window.setInterval(poll, 20000);
  poll();
})();

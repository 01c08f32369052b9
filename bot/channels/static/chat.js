// Raabta web chat: posts to /webchat/api/messages and renders replies with buttons; a reload restores the
// chat from /webchat/api/history. The page follows the conversation's language (words from
// responses/webchat.yaml, embedded in the page). Text is always inserted with textContent, never as HTML.
(function () {
  "use strict";
  var KEY = "raabta.session";
  var NEUTRAL = "https://www.google.com/search?q=weather";  // where Quick exit goes
  var texts = JSON.parse(document.getElementById("texts").textContent);
  var root = document.documentElement;
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var file = document.getElementById("file");
  var bar = document.querySelector(".bar");
  var busy = false;
  var lang = "en";

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function stored() {
    try { return window.localStorage.getItem(KEY); } catch (e) { return null; }
  }
  function remember(value) {
    try { window.localStorage.setItem(KEY, value); } catch (e) { /* private mode: this tab only */ }
  }
  function forget() {
    try { window.localStorage.removeItem(KEY); window.sessionStorage.clear(); } catch (e) { /* nothing kept */ }
  }

  // chat.html's first script already asked for the greeting or the history while this file loaded: one
  // round trip fewer before the chat is ready (bench/webchat_page.py). Without it, the same, here.
  var early = window.raabtaEarly || null;
  var session = early ? early.session : stored();
  var known = early ? early.known : Boolean(session);  // a new session has no history: greet at once
  if (!session) { session = randomId(); remember(session); }

  function t(key) { return (texts[lang] || texts.en)[key] || texts.en[key]; }

  // The page in the conversation's language: <html lang dir>, title, and every marked word.
  function setLanguage(next) {
    if (!texts[next]) { return; }
    lang = next;
    root.setAttribute("lang", next);
    root.setAttribute("dir", texts[next].dir);
    document.title = t("title");
    Array.prototype.forEach.call(document.querySelectorAll("[data-t]"), function (el) {
      el.textContent = t(el.getAttribute("data-t"));
    });
    ["placeholder", "aria-label", "title"].forEach(function (attr) {
      Array.prototype.forEach.call(document.querySelectorAll("[data-t-" + attr + "]"), function (el) {
        el.setAttribute(attr, t(el.getAttribute("data-t-" + attr)));
      });
    });
    measure();
  }

  // Sticky bar on top, message box below: scrolling into view keeps clear of both.
  function measure() {
    root.style.setProperty("--top", (bar.offsetHeight + 8) + "px");
    root.style.setProperty("--bottom", (form.offsetHeight + 8) + "px");
  }
  window.addEventListener("resize", measure);

  function speak(el, messageLang) {
    if (messageLang && texts[messageLang]) {
      el.setAttribute("lang", messageLang);
      el.setAttribute("dir", texts[messageLang].dir);
    } else {
      el.setAttribute("dir", "auto");
    }
  }

  // A phone number in the bot's words (0800-39393, 0300 1234567, +92 51 ...: seven digits or more) opens
  // the dialler; digits inside a link, a code or a word are left alone. Text nodes only: never HTML.
  var PHONE = /\+?\d[\d\- ]{5,}\d/g;
  function fill(item, text) {
    var last = 0, m;
    PHONE.lastIndex = 0;
    while ((m = PHONE.exec(text)) !== null) {
      var digits = m[0].replace(/[^0-9+]/g, "");
      var before = text.charAt(m.index - 1);
      if (digits.replace("+", "").length < 7 || /[A-Za-z0-9\/=.@_-]/.test(before)) { continue; }
      item.appendChild(document.createTextNode(text.slice(last, m.index)));
      var link = document.createElement("a");
      link.className = "tel";
      link.href = "tel:" + digits;
      link.textContent = m[0];
      item.appendChild(link);
      last = m.index + m[0].length;
    }
    item.appendChild(document.createTextNode(text.slice(last)));
  }

  // The citizen's own words in Urdu letters (typed, or the label of a button such as "اردو" pressed on an
  // English message) are Urdu: its font, which a device may lack (ہ and ے drawn as boxes), and a screen
  // reader's Urdu voice. Their direction follows their first strong letter, as typed text's always does.
  var URDU_LETTERS = /[\u0600-\u06ff]/;
  function bubble(text, who, messageLang, kind) {
    var item = document.createElement("li");
    item.className = "msg " + who + (kind ? " " + kind : "");
    if (kind === "emergency" || kind === "crisis") { item.className += " urgent"; }
    if (who === "me" && URDU_LETTERS.test(text)) {
      item.setAttribute("lang", "ur");
      item.setAttribute("dir", "auto");
    } else {
      speak(item, messageLang);
    }
    if (who === "bot") { fill(item, text); } else { item.textContent = text; }
    log.appendChild(item);
    return item;
  }

  function disableOldButtons() {
    var old = log.querySelectorAll(".buttons button");
    for (var i = 0; i < old.length; i++) { old[i].disabled = true; }
  }

  function callRow(m) {
    var calls = document.createElement("li");
    calls.className = "calls";
    speak(calls, m.lang);
    m.calls.forEach(function (c) {
      var link = document.createElement("a");
      link.className = "call";
      link.href = "tel:" + String(c.number).replace(/[^0-9+]/g, "");
      link.textContent = c.label;
      calls.appendChild(link);
    });
    log.appendChild(calls);
  }

  function buttonRow(buttons, messageLang) {
    var row = document.createElement("li");
    row.className = "buttons";
    speak(row, messageLang);  // right to left in Urdu: the first choice on the right
    buttons.forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      if (b.lang) { speak(button, b.lang); }
      button.dataset.choice = b.id;
      button.textContent = b.label;
      button.addEventListener("click", function () {
        if (busy) { return; }
        bubble(b.label, "me", messageLang);
        send({choice: b.id});
      });
      row.appendChild(button);
    });
    log.appendChild(row);
    return row;
  }

  // The newest buttons in view (clear of the message box) and focused; else the newest message in view.
  function settle(row) {
    measure();
    if (row) {
      row.scrollIntoView({block: "end"});
      var first = row.querySelector("button:not([disabled])");
      if (first) { first.focus({preventScroll: true}); }
    } else if (log.lastElementChild) {
      log.lastElementChild.scrollIntoView({block: "end"});
    }
  }

  function languageOf(messages) {
    for (var i = messages.length - 1; i >= 0; i--) {
      if (messages[i].kind !== "citizen" && texts[messages[i].lang]) { return messages[i].lang; }
    }
    return null;
  }

  function render(messages, restoring) {
    if (!messages || !messages.length) { return null; }
    var said = languageOf(messages);
    if (said && said !== lang) { setLanguage(said); }
    disableOldButtons();
    var row = null;
    messages.forEach(function (m) {
      if (m.kind === "citizen") { bubble(m.text, "me", null, m.kept === false ? "unkept" : ""); return; }
      bubble(m.text, "bot", m.lang, m.kind);
      if (m.calls && m.calls.length) { callRow(m); }  // tap-to-call: the phone's dialler opens
      if (!restoring && m.buttons && m.buttons.length) { row = buttonRow(m.buttons, m.lang); }
    });
    return row;
  }

  function answered(response) {
    return response.json().then(function (body) {
      if (body.messages) { return render(body.messages); }
      if (body.error) { bubble(body.error, "note"); }
      return null;
    });
  }

  function post(payload, attempt, started) {
    return (started || fetch("/webchat/api/messages", {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(payload)
    })).then(answered).catch(function () {
      if (attempt < 2) {
        return new Promise(function (r) { setTimeout(r, 1500); }).then(function () {
          return post(payload, attempt + 1);
        });
      }
      bubble(t("connection"), "note", lang);
      return null;
    });
  }

  function send(payload, started) {
    busy = true;
    payload.session = session;
    payload.id = payload.id || randomId();  // the same id on a retry: the server handles it once
    return post(payload, 0, started).then(function (row) {
      busy = false;
      if (!row) { input.focus({preventScroll: true}); }
      settle(row);
    });
  }

  // A screenshot or PDF: posted to /webchat/api/upload, answered like a message.
  function upload(chosen) {
    if (busy || !chosen) { return; }
    busy = true;
    var data = new FormData();
    data.append("session", session);
    data.append("file", chosen);
    bubble(t("sending_file") + " " + chosen.name, "me");
    var row = null;
    fetch("/webchat/api/upload", {method: "POST", body: data})
      .then(answered).then(function (r) { row = r; })
      .catch(function () { bubble(t("connection"), "note", lang); })
      .finally(function () { busy = false; file.value = ""; settle(row); });
  }

  function poll() {
    fetch("/webchat/api/messages?session=" + encodeURIComponent(session))
      .then(function (r) { return r.ok ? r.json() : {messages: []}; })
      .then(function (body) { var row = render(body.messages); if (row) { settle(row); } })
      .catch(function () {});
  }

  // A reload restores the chat where it was; a new session starts it. A link to a card (/chat?card=<id>:
  // chat.html's first script read it, in the browser's language, and took it off the address) opens the
  // card: a new session starts on it, a known one is restored and then shown it.
  var card = early ? early.card : "";
  function restore() {
    var started = early ? early.response : null;
    if (!known) { return send({text: card || "/start", id: early ? early.id : undefined}, started); }
    return (started || fetch("/webchat/api/history?session=" + encodeURIComponent(session)))
      .then(function (r) { return r.ok ? r.json() : {messages: []}; })
      .catch(function () { return {messages: []}; })
      .then(function (body) {
        if (body.lang && body.lang !== lang) { setLanguage(body.lang); }
        if (!body.messages || !body.messages.length) { return send({text: card || "/start"}); }
        render(body.messages, true);
        if (card) { return send({text: card}); }
        var last = body.messages[body.messages.length - 1];
        var row = body.buttons && body.buttons.length ? buttonRow(body.buttons, last.lang || lang) : null;
        settle(row);
        return null;
      });
  }

  document.getElementById("exit").addEventListener("click", function () {
    forget();
    log.textContent = "";
    window.location.replace(NEUTRAL);
  });
  document.getElementById("clear").addEventListener("click", function () {
    if (busy) { return; }
    forget();
    session = randomId();
    remember(session);
    log.textContent = "";
    send({text: "/start"});
  });
  document.getElementById("attach").addEventListener("click", function () { file.click(); });
  file.addEventListener("change", function () { upload(file.files && file.files[0]); });

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

  measure();
  restore().then(function () {
    root.setAttribute("data-ready", "1");
    if (window.performance && performance.mark) { performance.mark("raabta-ready"); }  // bench/webchat_page.py
    poll();
  });
  window.setInterval(poll, 20000);
})();

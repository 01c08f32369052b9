/* Raabta console: keyboard shortcuts and small conveniences. No inline script anywhere (CSP). */
(function () {
  "use strict";

  var selectedId = null;

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("tr[data-case-row]"));
  }

  function mark(row) {
    rows().forEach(function (r) {
      r.classList.remove("selected");
      r.removeAttribute("aria-selected");
    });
    if (!row) {
      return;
    }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    selectedId = row.getAttribute("data-case-id") + "|" + laneOf(row);
    row.scrollIntoView({ block: "nearest" });
  }

  function laneOf(row) {
    var table = row.closest("table");
    return table ? table.getAttribute("data-lane") : "";
  }

  function current() {
    var all = rows();
    for (var i = 0; i < all.length; i++) {
      if (all[i].classList.contains("selected")) {
        return i;
      }
    }
    return -1;
  }

  function move(step) {
    var all = rows();
    if (!all.length) {
      return;
    }
    var i = current();
    var next = i < 0 ? 0 : Math.min(all.length - 1, Math.max(0, i + step));
    mark(all[next]);
  }

  function restore() {
    if (!selectedId) {
      return;
    }
    var parts = selectedId.split("|");
    var found = rows().filter(function (r) {
      return r.getAttribute("data-case-id") === parts[0] && laneOf(r) === parts[1];
    })[0];
    if (found) {
      mark(found);
    }
  }

  function selectedRow() {
    var i = current();
    return i < 0 ? null : rows()[i];
  }

  function submit(form) {
    if (!form) {
      return;
    }
    if (typeof form.requestSubmit === "function") {
      form.requestSubmit();
    } else {
      form.submit();
    }
  }

  function focusDecision() {
    var form = document.getElementById("decision-form");
    if (!form) {
      return false;
    }
    var radio = form.querySelector("input[name=status]:checked") || form.querySelector("input[name=status]");
    form.scrollIntoView({ block: "nearest" });
    if (radio) {
      radio.focus();
    }
    return true;
  }

  // Bulk actions: the rows ticked (by case id), kept while the list refreshes itself every 20 seconds. A
  // case listed in two lanes (held by you, and in the list) has a box in each: they move together.
  var picked = {};

  function picks() {
    return Array.prototype.slice.call(document.querySelectorAll("input[data-pick]"));
  }

  function countPicked() {
    var shown = document.querySelector("[data-picked-count]");
    if (shown) {
      var n = Object.keys(picked).length;
      shown.textContent = n ? n + " selected" : "";
    }
  }

  function setPicked(id, on) {
    if (on) {
      picked[id] = true;
    } else {
      delete picked[id];
    }
    picks().forEach(function (box) {
      if (box.value === id) {
        box.checked = on;
      }
    });
    countPicked();
  }

  function restorePicks() {
    var present = {};
    picks().forEach(function (box) {
      box.checked = !!picked[box.value];
      present[box.value] = true;
    });
    Object.keys(picked).forEach(function (id) {
      if (!present[id]) {
        delete picked[id]; // decided or gone from the list meanwhile: no longer selectable here
      }
    });
    countPicked();
  }

  function refresh() {
    var lanes = document.getElementById("lanes");
    if (lanes && window.htmx) {
      window.htmx.trigger(lanes, "refresh-lanes");
    }
  }

  function help() {
    var dialog = document.getElementById("help");
    if (dialog && !dialog.open) {
      dialog.showModal();
    }
  }

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName.toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && target && target.form) {
      event.preventDefault();
      submit(target.form);
      return;
    }
    if (typing(target)) {
      if (event.key === "Escape") {
        target.blur();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    var dialog = document.getElementById("help");
    if (dialog && dialog.open) {
      return;
    }
    var row;
    switch (event.key) {
      case "j":
        move(1);
        break;
      case "k":
        move(-1);
        break;
      case "Enter":
      case "o":
        row = selectedRow();
        if (!row) {
          return;
        }
        window.location.href = row.getAttribute("data-href");
        break;
      case "c":
        // On a case page: claim the case on screen; on the queue: claim the next within the filters.
        var claim = document.getElementById("claim-this") || document.getElementById("claim-next");
        if (!claim) {
          return;
        }
        submit(claim);
        break;
      case "d":
        if (!focusDecision()) {
          row = selectedRow();
          if (!row) {
            return;
          }
          window.location.href = row.getAttribute("data-href") + "#decide";
        }
        break;
      case "n":
        if (!document.getElementById("note-text")) {
          return;
        }
        document.getElementById("note-text").focus();
        break;
      case "r":
        refresh();
        break;
      case "x":
        // Tick (or untick) the selected row for a bulk action.
        row = selectedRow();
        var pick = row ? row.querySelector("input[data-pick]") : null;
        if (!pick) {
          return;
        }
        setPicked(pick.value, !pick.checked);
        break;
      case "m":
        // Merge into the first possible duplicate: the form is filled in; its button takes the focus, so
        // Enter confirms and anything else leaves the case as it is.
        var merge = document.getElementById("merge-form");
        var mergeButton = merge ? merge.querySelector("button[type=submit]") : null;
        if (!mergeButton) {
          return;
        }
        merge.scrollIntoView({ block: "nearest" });
        mergeButton.focus();
        break;
      case "/":
        var search = document.getElementById("search-q");
        if (!search) {
          return;
        }
        search.focus();
        search.select();
        break;
      case "f":
        var first = document.querySelector("#filters select");
        if (!first) {
          return;
        }
        var box = first.closest("details");
        if (box) {
          box.open = true;
        }
        first.focus();
        break;
      case "u":
        if (!document.getElementById("back-to-queue")) {
          return;
        }
        window.location.href = "/console/queue";
        break;
      case "?":
        help();
        break;
      default:
        return;
    }
    event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var el = event.target instanceof Element ? event.target : null;
    if (!el) {
      return;
    }
    var helpButton = el.closest("[data-help]");
    if (helpButton) {
      help();
      return;
    }
    if (el.closest("[data-refresh]")) {
      refresh();
      return;
    }
    var copy = el.closest("[data-copy]");
    if (copy) {
      var source = document.querySelector(copy.getAttribute("data-copy"));
      if (source && navigator.clipboard) {
        navigator.clipboard.writeText(source.textContent.trim()).then(
          function () {
            copy.textContent = "Copied";
          },
          function () {
            copy.textContent = "Select and copy";
          }
        );
      }
      return;
    }
    var row = el.closest("tr[data-case-row]");
    if (row && !el.closest("a")) {
      mark(row);
    }
  });

  // The decision form offers only the reasons that fit the chosen outcome (the server checks it too).
  function fitReasons(form) {
    var select = form ? form.querySelector("select[name=reason]") : null;
    var radio = form ? form.querySelector("input[name=status]:checked") : null;
    if (!select || !radio) {
      return;
    }
    Array.prototype.forEach.call(select.options, function (option) {
      var fits = option.getAttribute("data-fits");
      option.disabled = fits !== null && fits.split(" ").indexOf(radio.value) < 0;
    });
    if (select.selectedOptions.length && select.selectedOptions[0].disabled) {
      select.value = "";
    }
  }

  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
      submit(el.form);
    }
    if (el && el.hasAttribute && el.hasAttribute("data-pick")) {
      setPicked(el.value, el.checked);
    }
    if (el && el.name === "status" && el.form && el.form.id === "decision-form") {
      fitReasons(el.form);
    }
  });

  document.addEventListener("htmx:afterSettle", restore);
  document.addEventListener("htmx:afterSettle", restorePicks);

  // A case ticked in two lanes is sent once (a form carries a limited number of fields).
  document.addEventListener("submit", function (event) {
    if (!event.target || event.target.id !== "bulk") {
      return;
    }
    var sent = {};
    picks().forEach(function (box) {
      box.disabled = box.checked && !!sent[box.value];
      if (box.checked) {
        sent[box.value] = true;
      }
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (window.matchMedia("(max-width: 760px)").matches) {
      document.querySelectorAll("details[data-fold-on-phone]").forEach(function (box) {
        box.open = false;
      });
    }
    if (window.location.hash === "#decide") {
      focusDecision();
    }
    fitReasons(document.getElementById("decision-form"));
    picks().forEach(function (box) {
      if (box.checked) {
        picked[box.value] = true; // ticks the browser restored on going back
      }
    });
    countPicked();
  });
})();

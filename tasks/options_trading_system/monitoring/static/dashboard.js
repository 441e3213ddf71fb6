// The dashboard's script: draw the plotly charts, take fresh figures pushed by the server
// (server-sent events on /events; if the stream is refused or drops, fetch /fragment every few
// seconds until it is back), and send halt, resume and the emergency stop (flatten). Nothing is
// loaded from anywhere but this server; the token typed by the trader is sent with each control
// request and kept nowhere else.
// The static copy (dashboard.html) runs it too, to draw its charts; it has no live updates.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("refresh-status");
  var period = parseInt(live.getAttribute("data-refresh-ms"), 10) || 5000;
  var isLive = live.getAttribute("data-live") === "true";
  var plotConfig = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"]};
  var busy = false;
  var pollTimer = null;

  // Draw every chart under `root`. A chart already on screen (same id) is moved into the new
  // fragment and updated in place, so its zoom survives the update (layout.uirevision).
  function draw(root, previous) {
    Array.prototype.forEach.call(root.querySelectorAll("div.plot[data-figure]"), function (target) {
      var spec = target.getAttribute("data-figure");
      var old = previous ? previous[target.id] : null;
      var figure = JSON.parse(spec);
      if (old) {
        target.parentNode.replaceChild(old, target);
        if (old.getAttribute("data-figure") !== spec) {
          old.setAttribute("data-figure", spec);
          Plotly.react(old, figure.data, figure.layout, plotConfig);
        }
      } else {
        Plotly.newPlot(target, figure.data, figure.layout, plotConfig);
      }
    });
  }

  function apply(html, how) {
    var previous = {};
    Array.prototype.forEach.call(live.querySelectorAll("div.plot[data-figure]"), function (div) {
      previous[div.id] = div;
    });
    live.innerHTML = html;
    draw(live, previous);
    var snapshot = document.getElementById("snapshot");
    if (snapshot) {
      var runId = snapshot.getAttribute("data-run-id");
      document.title = "NQ monitor: " + snapshot.getAttribute("data-health").toUpperCase() +
        (runId ? " \u00b7 " + runId : "");
    }
    status.textContent = "updated " + new Date().toLocaleTimeString() + " (" + how + ")";
  }

  function refresh() {
    if (busy) { return; }
    busy = true;
    fetch("/fragment", {cache: "no-store", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) { apply(html, "fetched"); })
      .catch(function (error) {
        status.textContent = "dashboard server unreachable (" + error.message + "); figures below are from " +
          "the last successful refresh";
      })
      .then(function () { busy = false; });
  }

  function startPolling() {
    if (pollTimer === null) { pollTimer = window.setInterval(refresh, period); }
  }

  function stopPolling() {
    if (pollTimer !== null) { window.clearInterval(pollTimer); pollTimer = null; }
  }

  function listen() {
    if (!window.EventSource) { startPolling(); return; }
    var source = new window.EventSource("/events");
    source.addEventListener("fragment", function (event) {
      stopPolling();
      apply(event.data, "pushed");
    });
    // The browser reconnects by itself (the server ends each stream after a while); until the
    // next push arrives, or for good if the server refused the stream, fetch the figures instead.
    source.addEventListener("error", function () { startPolling(); });
  }

  function currentRunId() {
    var snapshot = document.getElementById("snapshot");
    return snapshot ? snapshot.getAttribute("data-run-id") : "";
  }

  function control(action) {
    var result = document.getElementById("control-result");
    var token = document.getElementById("control-token").value;
    var reason = document.getElementById("control-reason").value;
    var runId = currentRunId();
    if (!runId) { result.textContent = "There is no run to " + action + "."; return; }
    result.textContent = "sending " + action + " for " + runId + "...";
    fetch("/api/control/" + action, {
      method: "POST", cache: "no-store",
      headers: {"Content-Type": "application/json", "Authorization": "Bearer " + token},
      body: JSON.stringify({run_id: runId, reason: reason})
    }).then(function (response) {
      return response.json().then(function (body) { return {ok: response.ok, code: response.status, body: body}; });
    }).then(function (answer) {
      result.textContent = answer.ok ? answer.body.message : "refused (" + answer.code + "): " + answer.body.error;
      refresh();
    }).catch(function (error) {
      result.textContent = action + " not sent: " + error.message;
    });
  }

  draw(live, null);
  if (!isLive) { return; }
  var form = document.getElementById("control-form");
  if (form) {
    Array.prototype.forEach.call(form.querySelectorAll("button[data-action]"), function (button) {
      button.addEventListener("click", function () { control(button.getAttribute("data-action")); });
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); });
  }
  listen();
})();

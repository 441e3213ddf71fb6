// The dashboard's only script: swap in fresh figures every few seconds, and send halt/resume.
// Nothing is loaded from anywhere but this server; the token typed by the trader is sent with
// each control request and kept nowhere else.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("refresh-status");
  var period = parseInt(live.getAttribute("data-refresh-ms"), 10) || 5000;
  var busy = false;

  function refresh() {
    if (busy) { return; }
    busy = true;
    fetch("/fragment", {cache: "no-store", headers: {"Accept": "text/html"}})
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        var snapshot = document.getElementById("snapshot");
        if (snapshot) {
          var runId = snapshot.getAttribute("data-run-id");
          document.title = "NQ monitor: " + snapshot.getAttribute("data-health").toUpperCase() +
            (runId ? " \u00b7 " + runId : "");
        }
        status.textContent = "updated " + new Date().toLocaleTimeString();
      })
      .catch(function (error) {
        status.textContent = "dashboard server unreachable (" + error.message + "); figures below are from " +
          "the last successful refresh";
      })
      .then(function () { busy = false; });
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

  var form = document.getElementById("control-form");
  if (form) {
    Array.prototype.forEach.call(form.querySelectorAll("button[data-action]"), function (button) {
      button.addEventListener("click", function () { control(button.getAttribute("data-action")); });
    });
    form.addEventListener("submit", function (event) { event.preventDefault(); });
  }
  window.setInterval(refresh, period);
})();

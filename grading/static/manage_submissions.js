// The course's additions to nbgrader's Manage Submissions page (grading/formgrader.py adds this
// script): grading every submission in the sandbox with one button and its progress, each
// submission's notes and signals from the grading report, instructions that never point to
// unsandboxed grading, student ids where nbgrader would show "None, None", and a message when the
// server stops answering while grading runs. Everything shown comes from text (.text(), .attr()),
// never from HTML of a student's.
(function () {
  "use strict";
  var api = base_url + "/grading/api";

  // A JupyterHub (4.1+) treats a script's request without the XSRF token as anonymous, also a
  // GET; nbgrader's own requests carry it (getCookie is from its backbone_xsrf.js).
  function getJSON(url) {
    return $.ajax({url: url, dataType: "json", headers: {"X-CSRFToken": getCookie("_xsrf")}});
  }

  function progressLine(state) {
    if (state.running) {
      return "Grading in the sandbox: " + state.done + " of " + state.total + " done, " + state.failed + " failed" +
        (state.last ? " (last: " + state.last.student + ", " + state.last.status + ")" : "") + "…";
    }
    if (state.stopped) {
      return "The last grading run stopped before it finished (" + state.done + " of " + state.total +
        " done): press the button to go on; what was graded is kept.";
    }
    if (state.finished) {
      return "Last run: " + state.done + " submissions, " + state.failed + " failed, finished at " +
        new Date(state.finished * 1000).toLocaleTimeString() + ".";
    }
    return "";
  }

  function poll(wasRunning) {
    getJSON(api + "/grade").done(function (state) {
      $("#grading-progress").text(progressLine(state));
      var share = state.total ? Math.round(100 * state.done / state.total) : 0;
      $("#grading-bar").toggle(!!state.running).find(".progress-bar").css("width", share + "%").text(share + "%");
      $("#grade-all").prop("disabled", !!state.running);
      if (state.running) {
        setTimeout(function () { poll(true); }, 2000);
      } else if (wasRunning) {
        window.location.reload();  // the new scores, notes and signals
      }
    });
  }

  function annotate(report) {
    $("table tbody tr").each(function () {
      var row = $(this), student = row.find("td.student-id").text();
      var name = row.find("td.student-name");
      if (name.text() === "None, None") {
        name.find("a").length ? name.find("a").text(student) : name.text(student);
      }
      var found = report[student];
      if (!found || row.find(".grading-report").length) {
        return;
      }
      var cell = row.find("td.status");
      [["notes", "label-default", "notes for the student"], ["signals", "label-danger", "signals: look at this"],
       ["reason", "label-danger", "grading failed"]].forEach(function (kind) {
        if (found[kind[0]]) {
          cell.append(" ", $("<span/>").addClass("label grading-report " + kind[1]).text(kind[2])
            .attr("title", found[kind[0]]));
        }
      });
    });
  }

  $(function () {
    $("#collapseOne .panel-body").empty().append(
      $("<p/>").text("Grade here with the button below, or a submission at a time with its Autograde icon: both " +
        "grade in the sandbox (python -m grading grade), never with plain nbgrader autograde, which would run " +
        "students' code with your rights. From a terminal: python -m grading grade --course " +
        "\"<this course's folder>\" (README: 'Grading many submissions at once')."));
    var panel = $("<div/>").addClass("panel panel-default").attr("id", "grading-all").append(
      $("<div/>").addClass("panel-body").append(
        $("<button/>").addClass("btn btn-primary").attr("id", "grade-all")
          .text("Grade every new or changed submission (sandboxed)"),
        " ", $("<span/>").attr("id", "grading-progress"),
        $("<div/>").addClass("progress").attr("id", "grading-bar").hide().css("margin", "10px 0 0 0").append(
          $("<div/>").addClass("progress-bar").attr("role", "progressbar"))));
    $("#accordion").after(panel);
    $("#grade-all").on("click", function () {
      $.post(api + "/grade").done(function () { poll(true); });
    });
    poll(false);
    getJSON(api + "/report").done(function (report) {
      annotate(report);
      new MutationObserver(function () { annotate(report); }).observe(document.querySelector("table"),
        {childList: true, subtree: true});
    });
    $(document).ajaxError(function (event, request, settings) {
      if (/\/autograde$/.test(settings.url) && request.status === 0) {
        $("#grading-progress").text("The server stopped answering while it graded. Grading goes on by itself " +
          "and keeps its results: reload this page in a minute to see them.");
      }
    });
  });
})();

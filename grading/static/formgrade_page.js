// The formgrader's submission view, without inline script (see grading/templates/formgrade/):
// the page's values for nbgrader's own scripts, and what nbgrader's template did inline.
(function () {
  var page = document.querySelector('meta[name="nbgrader-formgrade"]');
  window.submission_id = page.getAttribute("data-submission-id");
  window.notebook_id = page.getAttribute("data-notebook-id");
  window.assignment_id = page.getAttribute("data-assignment-id");
  window.base_url = page.getAttribute("data-base-url");

  // nbgrader's formgrade.js waits for MathJax before it focuses the first score field; MathJax
  // comes from a CDN, which this page's policy refuses (as an offline machine would): a stand-in
  // that says MathJax finished at once, so the keyboard grading works (formulas stay as typed).
  if (!window.MathJax) {
    window.MathJax = {Hub: {Queue: function () {}, Startup: {signal: {Interest: function (listener) {
      setTimeout(function () { listener("End"); }, 0);
    }}}}};
  }

  window.toggle_name = function (on) {
    $(".name-shown").tooltip("hide");
    $(".name-hidden").tooltip("hide");
    $(".name-shown").toggle(on);
    $(".name-hidden").toggle(!on);
  };

  $(document).ready(function () {
    $("[data-link]").each(function () {
      $(this).map(linkTo("notebook", $(this).data("link"))).removeAttr("data-link");
    });
    $("span.glyphicon.name-hidden").tooltip({title: "Show student name", placement: "bottom", trigger: "hover"});
    $("span.glyphicon.name-shown").tooltip({title: "Hide student name", placement: "bottom", trigger: "hover"});
    $("[data-show-name]").on("click", function () {
      window.toggle_name($(this).attr("data-show-name") === "true");
    });
  });
})();

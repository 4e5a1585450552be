// LTI login initiation: go on to the LMS's sign-in only if this browser keeps our
// cookies here; inside an LMS iframe it may not, and then the launch would fail later.
(function () {
  "use strict";
  var card = document.getElementById("lti-login");
  if (!card) return;
  var cookies = "; " + document.cookie;
  if (cookies.indexOf("; coursehub-lti-check=") !== -1) {
    window.location.replace(card.getAttribute("data-auth-url"));
    return;
  }
  document.getElementById("lti-wait").hidden = true;
  document.getElementById("lti-blocked").hidden = false;
})();

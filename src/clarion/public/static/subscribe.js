// The subscribe form's proof of work, when the installation asks for one: find a number whose
// SHA-256 with the form's token starts with data-pow-bits zero bits, and send it with the form.
// The search starts when the page loads, so it is usually done before the reader is.
(function () {
  "use strict";
  var form = document.querySelector("form[data-pow-bits]");
  if (!form || !window.crypto || !window.crypto.subtle || !window.TextEncoder) return;
  var bits = parseInt(form.getAttribute("data-pow-bits"), 10);
  var token = form.querySelector("input[name=form_token]").value;
  var proof = form.querySelector("input[name=proof]");
  var status = form.querySelector("[data-pow-status]");
  var encoder = new TextEncoder();
  var waiting = false;

  function zeroBits(bytes) {
    var count = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 0) return count + Math.clz32(bytes[i]) - 24;
      count += 8;
    }
    return count;
  }

  async function solve() {
    for (var n = 0; ; n++) {
      var text = encoder.encode(token + ":" + n);
      var digest = new Uint8Array(await window.crypto.subtle.digest("SHA-256", text));
      if (zeroBits(digest) >= bits) return String(n);
    }
  }

  var answer = solve().then(function (found) {
    proof.value = found;
    if (waiting) {
      status.textContent = "";
      form.submit();
    }
    return found;
  });

  form.addEventListener("submit", function (event) {
    if (proof.value) return;
    event.preventDefault();
    waiting = true;
    status.textContent = "Checking your browser, one moment…";
    return answer;
  });
})();

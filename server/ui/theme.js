// Applies the stored theme before the first paint (a classic script, so it
// runs synchronously; the Content-Security-Policy forbids inline scripts).
(function () {
  try {
    var t = localStorage.getItem("ccr.theme");
    if (t === "light" || t === "dark") document.documentElement.dataset.theme = t;
  } catch (e) { /* storage disabled: follow the system */ }
})();

// Tekup CRM console: what the pages add when JavaScript runs (they work without it).
// Upload progress: htmx reports the request's progress on the form that sent it.
document.addEventListener('htmx:xhr:progress', function (event) {
  var bar = event.target.querySelector && event.target.querySelector('progress');
  if (bar && event.detail.lengthComputable) {
    bar.value = Math.round(event.detail.loaded / event.detail.total * 100);
  }
});

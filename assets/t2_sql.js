/* /t2/sql: Ctrl+Enter (Cmd+Enter on a Mac) in the editor clicks Run. */
document.addEventListener("keydown", function (event) {
  if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) { return; }
  if (!event.target || event.target.id !== "t2sql-editor") { return; }
  var run = document.getElementById("t2sql-run");
  if (run && !run.disabled) { event.preventDefault(); run.click(); }
});

// The login form of the interaction routes: one self-contained HTML page (no external
// assets, so it works offline and through the gateway under any path prefix).
const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

export function loginPage(action: string, clientId: string, error?: string): string {
  const message = error === undefined ? "" : `<p class="error" role="alert">${escapeHtml(error)}</p>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in · Skiff demo IdP</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,sans-serif;background:#f3f5f8;display:flex;justify-content:center;padding-top:10vh}
form{background:#fff;padding:2rem;border-radius:8px;box-shadow:0 1px 4px #0002;width:18rem}
label{display:block;margin:.6rem 0 .2rem}input{width:100%;box-sizing:border-box;padding:.4rem}
button{margin-top:1rem;width:100%;padding:.5rem}.error{color:#b00020}.hint{color:#666;font-size:.85rem}
</style></head><body>
<form method="post" action="${escapeHtml(action)}">
<h1>Sign in</h1><p>to <b>${escapeHtml(clientId)}</b></p>${message}
<label for="username">Username</label><input id="username" name="username" autocomplete="username" autofocus required>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
<p class="hint">Demo users: user, beta, moderator; password: password</p>
</form></body></html>
`;
}

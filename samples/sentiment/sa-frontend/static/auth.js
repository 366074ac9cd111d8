// Logging in, plain browser JavaScript: the OpenID Connect authorization code flow with
// PKCE (S256) against the demo IdP, which the ingress gateway serves on this page's own
// origin under /idp (so the token call needs no CORS). The access token stays in
// sessionStorage (gone with the tab) and goes with the page's API calls as
// `Authorization: Bearer`; the gateway, not this page, decides what it allows.
/* global document, window, location, history, fetch, crypto, sessionStorage, TextEncoder, TextDecoder, URLSearchParams, atob, btoa */
"use strict";

(() => {
  const IDP = "/idp";
  const CLIENT_ID = "sa-frontend";
  const REDIRECT_URI = `${location.origin}/`;
  const KEY = "skiff.auth";

  const loginButton = document.getElementById("login");
  const logoutButton = document.getElementById("logout");
  const who = document.getElementById("who");
  const message = document.getElementById("message");

  const base64url = (bytes) =>
    btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const randomString = () => base64url(crypto.getRandomValues(new Uint8Array(32)));

  // For display only: the page shows who it thinks is signed in; the gateway verifies.
  function claimsOf(jwt) {
    try {
      const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
    } catch {
      return {};
    }
  }

  function stored() {
    try {
      const auth = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (auth && auth.expiresAt > Date.now()) return auth;
    } catch {
      // a damaged entry is the same as none
    }
    sessionStorage.removeItem(KEY);
    return null;
  }

  async function discovery() {
    const response = await fetch(`${IDP}/.well-known/openid-configuration`);
    if (!response.ok) throw new Error(`the identity provider answered ${response.status} (is idp.yaml applied?)`);
    return response.json();
  }

  async function login() {
    const meta = await discovery();
    const verifier = randomString();
    const state = randomString();
    const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
    sessionStorage.setItem(`${KEY}.pending`, JSON.stringify({ verifier, state }));
    const params = new URLSearchParams({
      client_id: CLIENT_ID, response_type: "code", redirect_uri: REDIRECT_URI, scope: "openid profile",
      code_challenge: challenge, code_challenge_method: "S256", state,
    });
    location.assign(`${meta.authorization_endpoint}?${params}`);
  }

  // Back from the IdP with ?code&state (or ?error): exchange the code, then clean the URL.
  async function finishLogin(query) {
    const pending = JSON.parse(sessionStorage.getItem(`${KEY}.pending`) || "null");
    sessionStorage.removeItem(`${KEY}.pending`);
    history.replaceState(null, "", location.pathname);
    if (query.get("error")) throw new Error(`login failed: ${query.get("error_description") || query.get("error")}`);
    if (!pending || pending.state !== query.get("state")) throw new Error("login failed: the answer does not match the request (state); try again");
    const meta = await discovery();
    const response = await fetch(meta.token_endpoint, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        grant_type: "authorization_code", code: query.get("code"), redirect_uri: REDIRECT_URI,
        client_id: CLIENT_ID, code_verifier: pending.verifier,
      }),
    });
    const tokens = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(`login failed: token endpoint answered ${response.status} ${tokens.error || ""}`);
    const claims = claimsOf(tokens.access_token);
    sessionStorage.setItem(KEY, JSON.stringify({
      accessToken: tokens.access_token,
      idToken: tokens.id_token,
      user: claims.sub,
      group: claims.group,
      expiresAt: Date.now() + (tokens.expires_in || 300) * 1000,
    }));
  }

  async function logout() {
    const auth = stored();
    sessionStorage.removeItem(KEY);
    // End the IdP's session too, or the next "Log in" would sign the same user in silently.
    try {
      const meta = await discovery();
      const params = new URLSearchParams({ client_id: CLIENT_ID, post_logout_redirect_uri: REDIRECT_URI });
      if (auth && auth.idToken) params.set("id_token_hint", auth.idToken);
      location.assign(`${meta.end_session_endpoint}?${params}`);
    } catch {
      render();
    }
  }

  function render() {
    const auth = stored();
    who.textContent = auth ? `${auth.user} (group ${auth.group})` : "not signed in";
    loginButton.hidden = Boolean(auth);
    logoutButton.hidden = !auth;
  }

  const fail = (err) => {
    message.textContent = err.message;
    message.classList.add("error");
  };
  loginButton.addEventListener("click", () => login().catch(fail));
  logoutButton.addEventListener("click", () => logout().catch(fail));

  // app.js adds these to its /sentiment and /feedback calls.
  window.skiffAuth = {
    authHeaders() {
      const auth = stored();
      return auth ? { authorization: `Bearer ${auth.accessToken}` } : {};
    },
  };

  const query = new URLSearchParams(location.search);
  if (query.has("code") || query.has("error")) finishLogin(query).catch(fail).finally(render);
  else render();
})();
